"""Results derived from a configuration's features, cached beside them (see store/SCHEMA.md, Derived).

An analysis that costs more than a few seconds (neighbours of every row, out-of-fold
probabilities, a 2-D map) is kept as `configs/<id>/derived/<name>-<key digest>.h5`: a few named
arrays, the key they were computed for (the dataset's digest, the reduction, the parameters) and a
sha256 of their bytes. A reader gets them back only when the key is the one it asks for and the
bytes are intact: a changed dataset misses the cache, a damaged file is recomputed (and said so),
never trusted. Files are staged like every store file; the newest few per name are kept.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from store import atomic
from store.errors import StoreError
from store.integrity import open_own
from store.layout import StoreLayout

KEEP = 4  # cached results kept per analysis name and configuration (the newest)
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, StoreError)


@dataclass
class Cached:
    """What a cache lookup found: the arrays (None on a miss) and one line when a file was damaged."""

    arrays: dict[str, np.ndarray] | None
    damaged: str | None = None


def _canonical(key: dict) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def cache_path(layout: StoreLayout, config_id: str, name: str, key: dict) -> Path:
    """The file that holds (or would hold) `name` computed for `key`.

    Parameters
    ----------
    layout : StoreLayout
    config_id : str
    name : str
        The analysis, e.g. "neighbours".
    key : dict
        Everything the result depends on (JSON-able).

    Returns
    -------
    Path
    """
    digest = hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]
    return layout.config_dir(config_id) / "derived" / f"{name}-{digest}.h5"


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(layout: StoreLayout, config_id: str, name: str, key: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Cache numeric arrays for `key` (staged: a reader sees the old file or the whole new one).

    Parameters
    ----------
    layout, config_id, name, key
        As for cache_path.
    arrays : dict of str to ndarray
        Numeric arrays only (no objects, no strings).

    Returns
    -------
    Path
        The file written.
    """
    path = cache_path(layout, config_id, name, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    with atomic.staged_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["key"] = _canonical(key)
            f.attrs["sha256"] = _checksum(arrays)
            for array_name, array in arrays.items():
                f.create_dataset(array_name, data=array)
    _prune(path.parent, name)
    return path


def load(layout: StoreLayout, config_id: str, name: str, key: dict) -> Cached:
    """The arrays cached for exactly `key`, checked against their sha256; a miss when absent.

    Parameters
    ----------
    layout, config_id, name, key
        As for cache_path.

    Returns
    -------
    Cached
        arrays None on a miss; `damaged` says why a file that was there could not be used.
    """
    path = cache_path(layout, config_id, name, key)
    if not path.is_file():
        return Cached(None)
    try:
        with open_own(path) as f:
            if f.attrs.get("key") != _canonical(key):
                return Cached(None, f"cached {name} {path.name} was made for other data: recomputed")
            arrays = {array_name: f[array_name][()] for array_name in f.keys()
                      if isinstance(f[array_name], h5py.Dataset)}
            recorded = f.attrs.get("sha256")
    except READ_ERRORS as error:
        return Cached(None, f"cached {name} {path.name} is unreadable ({type(error).__name__}): recomputed")
    if any(array.dtype.kind not in "biuf" for array in arrays.values()) or recorded != _checksum(arrays):
        return Cached(None, f"cached {name} {path.name} is damaged (its sha256 differs): recomputed")
    return Cached(arrays)


def _prune(folder: Path, name: str) -> None:
    files = sorted(folder.glob(f"{name}-*.h5"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
