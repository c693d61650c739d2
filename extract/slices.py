"""`--shard i/n`: a deterministic slice of a job, so that any scheduler can run n copies.

An image belongs to slice `int(sha256[:16], 16) % n`: by content, not by position, so
a slice keeps its images when files are added, renamed or listed in another order, and
two files with the same bytes never land in two slices (no image is extracted twice).
Every slice scans the whole dataset (the hashes decide who does what) and records the
files it covered in a partial index (store.partials); `extract merge` turns a complete set
of partials into the dataset's index (a plain full `extract run` does too).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from extract.scan import Scan, ScanEntry


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
