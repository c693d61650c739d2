"""A stored feature row as one vector: the reduction rule every reader of spatial features shares.

Spatial features (N, H, W, C) become one row per image by flattening the grid or pooling it.
Heads apply the rule inside their pipelines (heads.kinds.reduce), the likeness of images
(store.similarity) applies it before comparing: both read it from here, so `auto` means the
same thing to a head, to `extract run`'s duplicate check and to `heads inspect`.
"""
from __future__ import annotations

import numpy as np

REDUCE_MODES = ("flatten", "avg", "max")
AUTO = "auto"  # the default of `heads fit` and `heads inspect`: resolved per configuration by auto_mode
# Flattening keeps every position: right for a small grid (VGG16 block5_pool at 150 px, 4x4x512 = 8192, the
# blog's recipe), wasteful above: MobileNetV2's 7x7x1280 flattened (62,720 inputs) made the dense head 5 points
# worse than logistic regression on averaged features, 6x slower and 4.3 GB. Above this many values per
# image, `auto` averages over the grid.
AUTO_FLATTEN_MAX = 16384
AUTO_RULE = f"auto: flatten up to {AUTO_FLATTEN_MAX} values per image, global average pooling above"


def check_reduce(mode: str, input_shape: tuple[int, ...]) -> None:
    """Refuse a mode that does not fit the features (pooling needs a spatial grid)."""
    if mode not in REDUCE_MODES:
        raise ValueError(f"Unknown reduce mode {mode!r}. Allowed: {', '.join(REDUCE_MODES)}")
    if mode != "flatten" and len(input_shape) != 3:
        raise ValueError(
            f"reduce={mode!r} pools a spatial grid (H, W, C) but these features have shape "
            f"{tuple(input_shape)}; use reduce='flatten'. Received: reduce={mode!r}"
        )


def auto_mode(input_shape: tuple[int, ...]) -> str:
    """The reduction `auto` stands for, for features of this shape (see AUTO_FLATTEN_MAX)."""
    size = int(np.prod(input_shape)) if len(input_shape) else 0
    return "avg" if len(input_shape) == 3 and size > AUTO_FLATTEN_MAX else "flatten"


def resolve_mode(mode: str | None, input_shape: tuple[int, ...]) -> str:
    """One reduction for features of this shape: `auto` (or None) resolved, the result checked.

    Parameters
    ----------
    mode : str or None
        flatten, avg, max, or auto (None means auto).
    input_shape : tuple of int
        The shape of one stored feature row.

    Returns
    -------
    str
        The reduction to apply (flatten, avg or max).
    """
    mode = getattr(mode, "value", mode) or AUTO
    resolved = auto_mode(tuple(input_shape)) if mode == AUTO else mode
    check_reduce(resolved, tuple(input_shape))
    return resolved


def describe_mode(mode: str, input_shape: tuple[int, ...], asked: str | None) -> str:
    """One line saying how stored rows became vectors, for the record of a result."""
    shape = "x".join(str(d) for d in input_shape)
    how = {"flatten": "flattened", "avg": "global average pooled", "max": "global max pooled"}[mode]
    width = int(np.prod(input_shape)) if mode == "flatten" else int(input_shape[-1])
    rule = f" ({AUTO_RULE})" if (asked or AUTO) == AUTO else ""
    return f"{shape} features {how} to {width} values{rule}"


def reduce_features(X: np.ndarray, mode: str) -> np.ndarray:
    """The reduction itself, float32 (pooling over the grid, or flattening it)."""
    X = np.asarray(X)
    if mode == "flatten":
        return X.reshape(len(X), -1).astype(np.float32, copy=False)
    axes = tuple(range(1, X.ndim - 1))
    pooled = X.mean(axis=axes, dtype=np.float32) if mode == "avg" else X.max(axis=axes)
    return pooled.astype(np.float32, copy=False)


def read_vectors(view, hashes: list[str], mode: str, chunk_rows: int = 2048) -> np.ndarray:
    """The reduced float32 vector of each content hash, in the order given.

    Rows are read in shard order, a chunk at a time, and reduced before the next chunk is read:
    a configuration larger than memory (100,000 images of 7x7x1280) is read once, never whole.

    Parameters
    ----------
    view : store.ConfigView
        The configuration to read (every hash must have features in it).
    hashes : list of str
        Content hashes.
    mode : str
        flatten, avg or max (see resolve_mode).
    chunk_rows : int
        Feature rows held at once before reduction.

    Returns
    -------
    ndarray of shape (len(hashes), d), float32
    """
    _, shard, row = view.catalog.find(hashes)
    order = np.lexsort((row, shard)).tolist()
    width = int(np.prod(view.config.feature_shape)) if mode == "flatten" else int(view.config.feature_shape[-1])
    out = np.empty((len(hashes), width), np.float32)
    for start in range(0, len(order), chunk_rows):
        positions = np.asarray(order[start:start + chunk_rows], dtype=np.int64)
        out[positions] = reduce_features(view.features_for([hashes[i] for i in positions]), mode)
    return out
