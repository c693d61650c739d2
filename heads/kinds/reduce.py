"""Spatial features (N, H, W, C) to vectors, for heads that need one row per image.

A scikit-learn transformer, so it is the first step of every scikit-learn head's
pipeline and is saved with it: a head always applies the same reduction at
predict time as at fit time.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

REDUCE_MODES = ("flatten", "avg", "max")
AUTO = "auto"  # the default of `heads fit`: resolved per configuration by auto_mode, and recorded resolved
REDUCE_CHOICES = (AUTO, *REDUCE_MODES)
# Flattening keeps every position: right for a small grid (VGG16 block5_pool at 150 px, 4x4x512 = 8192, the
# blog's recipe), wasteful above: MobileNetV2's 7x7x1280 flattened (62,720 inputs) made the dense head 5 points
# worse than logistic regression on averaged features, 6x slower and 4.3 GB. Above this many values per
# image, `auto` averages over the grid.
AUTO_FLATTEN_MAX = 16384
AUTO_RULE = f"auto: flatten up to {AUTO_FLATTEN_MAX} values per image, global average pooling above"
FLOAT_DTYPES = [np.float32, np.float16, np.float64]  # float16 store rows stay float16 until reduced


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


def resolve_modes(modes, shapes: list[tuple[int, ...]]) -> list[str]:
    """One reduction per configuration: one mode given for all, or one per configuration, `auto` resolved;
    each checked against its features' shape."""
    modes = [getattr(m, "value", m) for m in ([modes] if isinstance(modes, str) or not modes else list(modes))]
    modes = modes or [AUTO]
    if len(modes) == 1:
        modes = modes * len(shapes)
    if len(modes) != len(shapes):
        raise ValueError(f"Give one --reduce for all configurations or one per configuration ({len(shapes)}). "
                         f"Received: {len(modes)} ({', '.join(modes)})")
    resolved = []
    for mode, shape in zip(modes, shapes):
        if mode not in REDUCE_CHOICES:
            raise ValueError(f"Unknown reduce mode {mode!r}. Allowed: {', '.join(REDUCE_CHOICES)}")
        mode = auto_mode(tuple(shape)) if mode == AUTO else mode
        check_reduce(mode, tuple(shape))
        resolved.append(mode)
    return resolved


def reduce_features(X: np.ndarray, mode: str) -> np.ndarray:
    """The reduction itself, float32 (pooling over the grid, or flattening it)."""
    X = np.asarray(X)
    if mode == "flatten":
        return X.reshape(len(X), -1).astype(np.float32, copy=False)
    axes = tuple(range(1, X.ndim - 1))
    pooled = X.mean(axis=axes, dtype=np.float32) if mode == "avg" else X.max(axis=axes)
    return pooled.astype(np.float32, copy=False)


def keras_reduction(x, mode: str, name: str = "reduce"):
    """The same reduction as a Keras layer on a tensor (an exported head's first step): Flatten, or global
    pooling over the grid (features without a grid are flattened whatever the mode)."""
    import keras

    if mode == "flatten" or len(x.shape) != 4:
        return keras.layers.Flatten(name=f"{name}_flatten")(x)
    if mode == "avg":
        return keras.layers.GlobalAveragePooling2D(name=f"{name}_avg")(x)
    return keras.layers.GlobalMaxPooling2D(name=f"{name}_max")(x)


class SpatialReducer(TransformerMixin, BaseEstimator):
    """flatten: keep every position (the blog's Flatten); avg/max: global pooling per channel."""

    def __init__(self, mode: str = "flatten"):
        self.mode = mode

    def fit(self, X, y=None):
        X = validate_data(self, X, allow_nd=True, dtype=FLOAT_DTYPES)
        check_reduce(self.mode, X.shape[1:])
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, allow_nd=True, dtype=FLOAT_DTYPES, reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"Features of shape {tuple(X.shape[1:])} given to a reducer fitted on {self.input_shape_}."
            )
        return reduce_features(X, self.mode)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
