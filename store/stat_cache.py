"""The stat cache of a dataset: which version of a file (by its stat) had which content hash.

A rerun on an unchanged folder then reads no image: a file whose path, size, mtime_ns, inode and
ctime_ns all equal the recorded ones is taken to hold the recorded content (git's index rule). Any
difference re-reads and re-hashes the file. ctime cannot be set by a user (a `touch -d` or a copy
that restores mtime still moves it), so a rewrite with the same size and an mtime forced back is
caught too. Git's "racily clean" guard: an entry whose mtime is within RACY_NS of the moment its
scan began may have been rewritten within the timestamp's resolution, so it is never trusted.

What it cannot see: a rewrite that keeps size, mtime and ctime (a clock set back, a filesystem
that does not keep ctime, bytes changed under the filesystem). `extract run --rehash` reads everything.

One HDF5 file per dataset, `datasets/<name>/stat-cache.h5`, written through the store's staged
writes; columns sorted by path so a whole listing is matched with one vectorised search. A file
that is missing, damaged, of another version or for another data folder is ignored (rebuilt).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from store import atomic

FORMAT = "bottleneck-stat-cache"
VERSION = 1
FILE_NAME = "stat-cache.h5"
RACY_NS = 2_000_000_000  # 2 s: the coarsest mtime resolution in common use (FAT; some network mounts)
STAT_FIELDS = ("size", "mtime_ns", "inode", "ctime_ns")


@dataclass
class FileStats:
    """Stats of many files as columns: `paths` (bytes, UTF-8, relative to the data root) and int64 stats."""

    paths: np.ndarray
    size: np.ndarray
    mtime_ns: np.ndarray
    inode: np.ndarray
    ctime_ns: np.ndarray

    @classmethod
    def empty(cls) -> "FileStats":
        return cls(np.array([], dtype="S1"), *(np.array([], dtype=np.int64) for _ in STAT_FIELDS))

    def take(self, mask: np.ndarray) -> "FileStats":
        return FileStats(self.paths[mask], *(getattr(self, f)[mask] for f in STAT_FIELDS))


@dataclass
class StatCache:
    """Recorded file versions of one dataset, sorted by path, with their content hash and image kind."""

    data_root: str
    scanned_ns: int  # when the scan that recorded them began (for the racy guard)
    stats: FileStats
    hashes: np.ndarray  # S64
    kinds: np.ndarray  # S8; b"" for content that is no image we decode

    def lookup(self, current: FileStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(known mask, hashes, kinds) for the files of `current`: known where every stat matches a
        recorded entry that is not racily clean."""
        count = len(current.paths)
        known = np.zeros(count, dtype=bool)
        hashes, kinds = np.zeros(count, dtype="S64"), np.zeros(count, dtype="S8")
        if not count or not len(self.stats.paths):
            return known, hashes, kinds
        at = np.searchsorted(self.stats.paths, current.paths).clip(0, len(self.stats.paths) - 1)
        known = self.stats.paths[at] == current.paths
        for field in STAT_FIELDS:
            known &= getattr(self.stats, field)[at] == getattr(current, field)
        known &= self.stats.mtime_ns[at] < self.scanned_ns - RACY_NS
        hashes[known], kinds[known] = self.hashes[at[known]], self.kinds[at[known]]
        return known, hashes, kinds


def cache_path(dataset_dir: Path) -> Path:
    return Path(dataset_dir) / FILE_NAME


def read_stat_cache(dataset_dir: Path, data_root: str) -> StatCache | None:
    """The dataset's stat cache, or None when there is none usable for `data_root` (never an error:
    a damaged or foreign cache only costs a full read)."""
    path = cache_path(dataset_dir)
    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT or int(f.attrs.get("version", 0)) != VERSION \
                    or f.attrs.get("data_root") != data_root:
                return None
            columns = {}
            for name in ("paths", *STAT_FIELDS, "hashes", "kinds"):
                dataset = f[name]
                if not isinstance(dataset, h5py.Dataset) or dataset.external or dataset.is_virtual:
                    return None  # the store's files hold only their own bytes
                columns[name] = dataset[()]
            scanned = int(f.attrs["scanned_ns"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    lengths = {len(c) for c in columns.values()}
    if len(lengths) != 1 or any(columns[f].dtype.kind not in "iu" for f in STAT_FIELDS) \
            or columns["paths"].dtype.kind != "S" or columns["hashes"].dtype != np.dtype("S64"):
        return None
    paths = columns["paths"]
    if len(paths) > 1 and not (paths[1:] > paths[:-1]).all():
        return None  # not sorted and unique: the search would answer wrong
    stats = FileStats(paths, *(columns[f].astype(np.int64) for f in STAT_FIELDS))
    return StatCache(data_root, scanned, stats, columns["hashes"], columns["kinds"].astype("S8"))


def write_stat_cache(dataset_dir: Path, data_root: str, scanned_ns: int, stats: FileStats,
                     hashes: np.ndarray, kinds: np.ndarray) -> Path:
    """Record these file versions (replacing the previous cache), through a staged write."""
    order = np.argsort(stats.paths, kind="stable")
    paths = stats.paths[order]
    keep = np.ones(len(paths), dtype=bool)
    keep[1:] = paths[1:] != paths[:-1]  # one entry per path
    order = order[keep]
    final = cache_path(dataset_dir)
    with atomic.staged_file(final) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "version": VERSION, "data_root": data_root, "scanned_ns": scanned_ns})
            f.create_dataset("paths", data=stats.paths[order] if len(order) else np.array([], dtype="S1"))
            for field in STAT_FIELDS:
                f.create_dataset(field, data=getattr(stats, field)[order].astype(np.int64))
            f.create_dataset("hashes", data=np.asarray(hashes, dtype="S64")[order])
            f.create_dataset("kinds", data=np.asarray(kinds, dtype="S8")[order])
    return final
