"""Stored bytes checked when read: a store's HDF5 files hold only their own bytes, and a shard's
features are refused when damaged, never handed to a head.

Shards written from now on carry HDF5's Fletcher-32 checksum on `hashes` and `features`, so HDF5
itself fails the read of a damaged chunk (turned into one line here). Older shards are compared with
their commit marker's sha256 once per process before first use (cached by path, size and modification
time, so a second read in the same process costs nothing). `extract run` relies on cached rows without
reading them: store.catalog says which shards it hashes (older ones, and checksummed ones new or
changed since their sha256 last matched).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

from store.errors import StoreError

_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) whose sha256 matched its marker
_OWN: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime_ns) -> holds only its own bytes, checksummed


def _key(path: Path) -> tuple[str, int, int]:
    stat = Path(path).stat()
    return str(path), stat.st_size, stat.st_mtime_ns


class DamagedShard(StoreError):
    """A committed shard whose bytes are not what was committed."""


def damaged_line(path: Path, why: str) -> str:
    return (f"Shard {path} is damaged ({why}): run `extract verify --repair`, then `extract run` to extract "
            f"its images again.")


def foreign_storage(group: h5py.Group, prefix: str = "") -> str | None:
    """What in this HDF5 group reaches outside its file (external links, soft links, external
    storage, virtual datasets), or None. Links are inspected without being followed."""
    for name in group:
        where = f"{prefix}/{name}"
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            return f"{where} is an external link to {link.filename!r}"
        if isinstance(link, h5py.SoftLink):
            return f"{where} is a soft link to {link.path!r}"
        member = group[name]
        if isinstance(member, h5py.Group):
            found = foreign_storage(member, where)
            if found:
                return found
        elif isinstance(member, h5py.Dataset):
            if member.is_virtual:
                return f"{where} is a virtual dataset"
            if member.external:
                return f"{where} uses external storage ({member.external[0][0]!r})"
    return None


def open_own(path: Path) -> h5py.File:
    """Open a store's HDF5 file for reading, refused in one line when it reaches outside itself."""
    key = _key(path)
    handle = h5py.File(path, "r")
    if key in _OWN:  # walked already in this process, and unchanged since
        return handle
    try:
        found = foreign_storage(handle)
    except Exception:
        handle.close()
        raise
    if found:
        handle.close()
        raise StoreError(f"Store file {path} reaches outside itself ({found}); a store file holds only "
                         f"its own bytes: run `extract verify --repair`.")
    _OWN[key] = bool("features" in handle and "hashes" in handle and handle["features"].fletcher32
                     and handle["hashes"].fletcher32)
    return handle


def has_checksums(path: Path) -> bool:
    with open_own(path) as f:
        if "features" not in f or "hashes" not in f:
            raise KeyError("no features or hashes dataset")
    return _OWN[_key(path)]


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MB blocks (store.shards re-exports it: shards, weights, exports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shard(path: Path, marker: dict, deep: bool = False) -> None:
    """Refuse (DamagedShard, one line) a shard that is not what its marker committed.

    Parameters
    ----------
    path : Path
        The shard file.
    marker : dict
        Its commit marker (bytes, sha256).
    deep : bool
        Compare the whole file with the marker's sha256 even when HDF5 checksums every chunk
        (`extract run` does, since it trusts a cached row without reading it).
    """
    stat = path.stat()
    if stat.st_size != marker.get("bytes"):
        raise DamagedShard(damaged_line(path, f"{stat.st_size} bytes, its marker says {marker.get('bytes')}"))
    try:
        checksummed = has_checksums(path)
    except StoreError as error:
        raise DamagedShard(str(error)) from None
    except (OSError, KeyError, ValueError) as error:
        raise DamagedShard(damaged_line(path, f"unreadable HDF5: {str(error).splitlines()[0]}")) from None
    if checksummed and not deep:
        return  # HDF5 checks each chunk as it is read (see read_error)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    if file_sha256(path) != marker.get("sha256"):
        raise DamagedShard(damaged_line(path, "sha256 differs from its commit marker"))
    _VERIFIED.add(key)


def read_error(path: Path, error: Exception) -> DamagedShard:
    """The one line for an HDF5 read that failed (a Fletcher-32 mismatch among others)."""
    return DamagedShard(damaged_line(path, f"read failed: {str(error).splitlines()[0]}"))


def read_rows(dataset: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """`dataset[rows]` for sorted, unique row positions, read as one span and picked in NumPy.

    Checksummed shards are chunked (Fletcher-32 needs chunks), and h5py's point selection on a chunked
    dataset costs 24 to 32 times the span read (70 % of each shard's rows, vgg16@150 and mobilenet_v2@224:
    bench/README.md). The span is at most one shard's features, which its writer held in memory."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return dataset[:0]
    first, last = int(rows[0]), int(rows[-1])
    if first < 0 or last >= len(dataset):  # a catalog row that does not exist: damaged records, never wrapped
        raise StoreError(f"Rows {first}..{last} asked of {dataset.file.filename}, which holds {len(dataset)}: "
                         f"run `extract verify --repair`.")
    return dataset[first:last + 1][rows - first]

