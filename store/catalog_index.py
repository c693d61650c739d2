"""The catalog index of a configuration: which content hash lives in which committed shard row.

Without it, opening a configuration opened every shard file (about 4,000 at a million images). The
index, `configs/<id>/catalog.h5`, holds the keys of every committed shard as columns, with the
names and sizes of the shards it covers. It is kept in step by whoever reads it: the committed
shards are listed (one directory listing, no file opened), and when they are exactly the shards
the index covers it is used as it is; otherwise only the shards it lacks are read, shards gone
(`verify --repair`, `extract rm`) are dropped, and the index is written again through a staged
write. A kill between a shard's commit and the index update therefore costs one shard's read on
the next open, never a wrong answer. A missing, damaged or foreign index is rebuilt.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from store import atomic, shards
from store.integrity import has_checksums

FORMAT = "bottleneck-catalog-index"
VERSION = 2  # 2: the `checked` column (a version-1 index is read with nothing established, and rewritten)
FILE_NAME = "catalog.h5"
# Bits of `checked`, per shard: what was established about its file when its stamps were recorded.
CHECKSUMMED = 1  # `hashes` and `features` carry Fletcher-32: HDF5 checks every chunk it reads
HASHED = 2  # its sha256 matched its commit marker (store.catalog sets it; only meaningful with CHECKSUMMED)


@dataclass
class CatalogColumns:
    """Every committed shard's keys, in commit order: `shard` and `row` locate each feature row."""

    names: list[str]  # shard file names, commit (name) order
    sizes: np.ndarray  # int64 bytes per shard (as listed by its marker)
    stamps: np.ndarray  # int64 (shards, 4): size and mtime_ns of each marker and shard file when indexed
    hashes: np.ndarray  # S64
    shard: np.ndarray  # int64 index into names
    row: np.ndarray  # int64
    rejected: np.ndarray  # S64: content known bad
    rejected_shard: np.ndarray  # int64: the shard holding each verdict
    reasons: list[str]
    checked: np.ndarray  # int8 per shard: CHECKSUMMED | HASHED bits


def index_path(shards_dir: Path) -> Path:
    return Path(shards_dir).parent / FILE_NAME


def listed_shards(shards_dir: Path) -> list[str]:
    """The committed shard names from one listing: a marker and its shard file both present."""
    return list(_listing(shards_dir))


def _listing(shards_dir: Path) -> dict[str, tuple[int, int, int, int]]:
    """Committed shard name -> (marker size, marker mtime_ns, shard size, shard mtime_ns), in name order:
    one directory listing and one lstat per file, no file opened."""
    if not shards_dir.is_dir():
        return {}
    with os.scandir(shards_dir) as listing:
        stamps = {}
        for entry in listing:
            info = entry.stat(follow_symlinks=False)
            stamps[entry.name] = (info.st_size, info.st_mtime_ns)
    suffix = shards.MARKER_SUFFIX
    names = sorted(m[: -len(suffix)] + ".h5" for m in stamps
                   if m.endswith(suffix) and m[: -len(suffix)] + ".h5" in stamps)
    return {name: (*stamps[name[:-3] + suffix], *stamps[name]) for name in names}


def _read_index(path: Path) -> CatalogColumns | None:
    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as f:
            version = int(f.attrs.get("version", 0))
            if f.attrs.get("format") != FORMAT or version not in (1, VERSION):
                return None
            columns = {}
            for name in ("names", "sizes", "stamps", "hashes", "shard", "row", "rejected", "rejected_shard", "reasons",
                         *(("checked",) if version >= 2 else ())):
                dataset = f[name]
                if not isinstance(dataset, h5py.Dataset) or dataset.external or dataset.is_virtual:
                    return None  # the store's files hold only their own bytes
                columns[name] = dataset[()]
    except (OSError, KeyError, ValueError, TypeError):
        return None
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in columns["names"]]
    columns.setdefault("checked", np.zeros(len(names), dtype=np.int8))  # version 1: nothing established yet
    reasons = [r.decode() if isinstance(r, bytes) else str(r) for r in columns["reasons"]]
    shard, row, hashes = columns["shard"], columns["row"], columns["hashes"]
    owners, stamps = columns["rejected_shard"], columns["stamps"]
    if not (len(hashes) == len(shard) == len(row) and len(columns["rejected"]) == len(reasons) == len(owners)
            and len(columns["sizes"]) == len(names) == len(columns["checked"]) and stamps.shape == (len(names), 4)) \
            or not all(
            len(c) == 0 or (0 <= c.min() and c.max() < len(names) and (np.diff(c) >= 0).all())
            for c in (shard, owners)):
        return None  # damaged: rebuilt from the shards
    return CatalogColumns(names, columns["sizes"].astype(np.int64), stamps.astype(np.int64), hashes.astype("S64"),
                          shard.astype(np.int64),
                          row.astype(np.int64), columns["rejected"].astype("S64"), owners.astype(np.int64), reasons,
                          columns["checked"].astype(np.int8))


def write_index(shards_dir: Path, columns: CatalogColumns) -> None:
    with atomic.staged_file(index_path(shards_dir)) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "version": VERSION})
            f.create_dataset("names", data=np.array(columns.names, dtype=h5py.string_dtype()))
            f.create_dataset("sizes", data=columns.sizes.astype(np.int64))
            f.create_dataset("stamps", data=columns.stamps.astype(np.int64).reshape(-1, 4))
            f.create_dataset("hashes", data=columns.hashes.astype("S64"))
            f.create_dataset("shard", data=columns.shard.astype(np.int64))
            f.create_dataset("row", data=columns.row.astype(np.int64))
            f.create_dataset("rejected", data=columns.rejected.astype("S64"))
            f.create_dataset("rejected_shard", data=columns.rejected_shard.astype(np.int64))
            f.create_dataset("reasons", data=np.array(columns.reasons, dtype=h5py.string_dtype()))
            f.create_dataset("checked", data=columns.checked.astype(np.int8))


def _refreshed(shards_dir: Path, old: CatalogColumns | None,
               listing: dict[str, tuple[int, int, int, int]]) -> CatalogColumns:
    """The columns of today's committed shards (every marker read and checked): the old index's rows
    for the shards whose files it saw as they are, the keys of the others read from their files."""
    covered = {}
    if old is not None:
        for position, (name, stamp) in enumerate(zip(old.names, old.stamps.tolist())):
            covered[name] = (position, tuple(stamp))
    names, sizes, stamps, hashes, shard, row, rejected, owners, reasons = [], [], [], [], [], [], [], [], []
    checked = []
    for path, marker in shards.committed_shards(shards_dir):
        size = int(marker.get("bytes", 0))
        index = len(names)
        names.append(path.name)
        sizes.append(size)
        stamp = listing.get(path.name, (-1, -1, -1, -1))
        stamps.append(stamp)
        known = covered.get(path.name)
        if known is not None and known[1] == tuple(stamp):
            low, high = np.searchsorted(old.shard, [known[0], known[0] + 1])  # rows are in shard order
            keys, rows = old.hashes[low:high], old.row[low:high]
            low, high = np.searchsorted(old.rejected_shard, [known[0], known[0] + 1])
            bad, why = old.rejected[low:high], old.reasons[low:high]
            checked.append(int(old.checked[known[0]]))
        else:  # new, or changed since indexed: what was established about the old file no longer holds
            keys, bad, why = shards.read_keys(path)
            rows = np.arange(len(keys), dtype=np.int64)
            checked.append(CHECKSUMMED if has_checksums(path) else 0)
        hashes.append(np.asarray(keys, dtype="S64"))
        row.append(rows)
        shard.append(np.full(len(keys), index, dtype=np.int64))
        rejected.append(np.asarray(bad, dtype="S64"))
        owners.append(np.full(len(bad), index, dtype=np.int64))
        reasons.extend(why)
    join = (lambda parts, dtype: np.concatenate(parts) if parts else np.array([], dtype=dtype))
    return CatalogColumns(names, np.array(sizes, dtype=np.int64), np.array(stamps, dtype=np.int64).reshape(-1, 4),
                          join(hashes, "S64"), join(shard, np.int64),
                          join(row, np.int64), join(rejected, "S64"), join(owners, np.int64), reasons,
                          np.array(checked, dtype=np.int8))


def load_columns(shards_dir: Path, update: bool = False) -> CatalogColumns:
    """The catalog's columns, from the index when it covers exactly the committed shards as they are
    (names, sizes and mtimes of markers and shard files), else refreshed: every marker read and checked,
    only the shards not covered opened. `update` (writers only: reading a store writes nothing) writes
    the refreshed index back."""
    shards_dir = Path(shards_dir)
    old = _read_index(index_path(shards_dir))
    listing = _listing(shards_dir)
    if old is not None and old.names == list(listing) and old.stamps.tolist() == [list(s) for s in listing.values()]:
        return old
    columns = _refreshed(shards_dir, old, listing)
    if update and shards_dir.is_dir():
        write_index(shards_dir, columns)
    return columns
