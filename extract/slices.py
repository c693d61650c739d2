"""`--shard i/n`: a deterministic slice of a job, so that any scheduler can run n copies.

An image belongs to slice `int(sha256[:16], 16) % n`: by content, not by position, so
a slice keeps its images when files are added, renamed or listed in another order, and
two files with the same bytes never land in two slices (no image is extracted twice).
Every slice scans the whole dataset (the hashes decide who does what) and records the
files it covered in a partial index; `extract merge` turns a complete set of partials
into the run index of the whole dataset (a plain full `extract run` does too).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from extract.scan import Scan, ScanEntry
from store import atomic
from store.runs import STRINGS, RunIndex
from store.shards import HASH_DTYPE

PARTIAL_DIR = "partial"


class SliceError(ValueError):
    pass


@dataclass(frozen=True)
class Slice:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Slice":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not match:
            raise SliceError(f"--shard takes i/n, e.g. 3/16 (slice 3 of 0..15). Received: --shard {text!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or index >= count:
            raise SliceError(f"--shard i/n needs n >= 1 and 0 <= i < n. Received: --shard {text}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, entry: ScanEntry) -> bool:
        return int(entry_key(entry)[:16], 16) % self.count == self.index


def entry_key(entry: ScanEntry) -> str:
    """The content hash; for a file that could not be read, a hash of its path."""
    return entry.hash or hashlib.sha256(entry.path.encode()).hexdigest()


def listing_digest(scan: Scan) -> str:
    """Identifies the file listing a slice saw (paths, labels, splits), so merge can refuse slices
    of different scans; positions then say which slice covered which file."""
    digest = hashlib.sha256()
    for entry in scan.entries:
        digest.update(f"{entry.path}\0{entry.label}\0{entry.split}\n".encode())
    return digest.hexdigest()


def partial_path(runs_dir: Path, part: Slice) -> Path:
    return runs_dir / PARTIAL_DIR / f"slice-{part.index}-of-{part.count}.h5"


def write_partial(runs_dir: Path, config_id: str, part: Slice, scan: Scan, positions: list[int],
                  stats: dict) -> Path:
    """The rows of the scan this slice covered, with their positions in the full scan."""
    final = partial_path(runs_dir, part)
    final.parent.mkdir(parents=True, exist_ok=True)
    entries = [scan.entries[i] for i in positions]
    tmp = atomic.temporary_name(final)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update({
                "config_id": config_id, "data_root": str(scan.root), "classes": json.dumps(scan.classes),
                "slice": str(part), "total": len(scan.entries), "listing": listing_digest(scan),
                "stats": json.dumps(stats, sort_keys=True),
                "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            })
            f.create_dataset("position", data=np.asarray(positions, dtype=np.int64))
            f.create_dataset("path", data=[e.path for e in entries], dtype=STRINGS)
            f.create_dataset("label", data=np.asarray([e.label for e in entries], dtype="int32"))
            f.create_dataset("split", data=[e.split for e in entries], dtype=STRINGS)
            f.create_dataset("hash", data=np.array([e.hash for e in entries], dtype=HASH_DTYPE))
            f.create_dataset("reason", data=[e.reason for e in entries], dtype=STRINGS)
        atomic.publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


@dataclass
class Partial:
    path: Path
    part: Slice
    total: int
    listing: str
    data_root: str
    classes: list[str]
    stats: dict
    positions: np.ndarray
    rows: RunIndex


def _strings(dataset) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else s for s in dataset[:]]


def read_partial(path: Path) -> Partial:
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        rows = RunIndex(
            data_root=str(attrs["data_root"]), classes=json.loads(attrs["classes"]), paths=_strings(f["path"]),
            labels=f["label"][:], splits=_strings(f["split"]), hashes=[h.decode() for h in f["hash"][:]],
            reasons=_strings(f["reason"]),
        )
        return Partial(path, Slice.parse(str(attrs["slice"])), int(attrs["total"]), str(attrs["listing"]),
                       rows.data_root, rows.classes, json.loads(attrs["stats"]), f["position"][:], rows)


def combine(partials: list[Partial]) -> RunIndex:
    """The run index of the whole dataset from one complete set of slices, in scan order."""
    if not partials:
        raise SliceError("No slice indexes to combine.")
    count = partials[0].part.count
    found = {p.part.index for p in partials if p.part.count == count}
    missing = sorted(set(range(count)) - found)
    if missing or len(partials) != count:
        raise SliceError(f"Slices {', '.join(map(str, missing)) or '(duplicates)'} of {count} have not "
                         f"finished (found {len(found)} of {count}); run them, then merge again.")
    first = partials[0]
    for other in partials[1:]:
        if (other.listing, other.total, other.classes) != (first.listing, first.total, first.classes):
            raise SliceError(
                f"Slices {first.part} and {other.part} scanned different datasets ({first.total} and "
                f"{other.total} files); the data changed between them: run a plain `extract run` instead.")
    positions = np.concatenate([p.positions for p in partials])
    order = np.argsort(positions, kind="stable")
    if not np.array_equal(positions[order], np.arange(first.total)):  # every file covered exactly once
        raise SliceError(f"The slices cover {len(np.unique(positions))} of {first.total} scanned files "
                         f"({len(positions)} rows): a file changed between them; run a plain `extract run`.")

    def joined(name: str) -> list:
        values = [v for p in partials for v in getattr(p.rows, name)]
        return [values[i] for i in order]

    sums = {k: sum(p.stats.get(k, 0) for p in partials) for k in ("extracted", "cached", "rejected", "changed")}
    stats = {**first.stats, **sums, "slices": count,
             "seconds": max(p.stats.get("seconds", 0) for p in partials)}
    return RunIndex(data_root=first.data_root, classes=first.classes, paths=joined("paths"),
                    labels=np.asarray(joined("labels")), splits=joined("splits"), hashes=joined("hashes"),
                    reasons=joined("reasons"), stats=stats)
