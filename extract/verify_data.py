"""`extract verify --data`: read every data file again and compare it with the dataset indexes.

A rerun trusts the stat cache (store.stat_cache) for files whose size, mtime, inode and ctime are
unchanged; this check trusts nothing: every indexed file is read and hashed by the same rules as a
scan (extract.sources.reading), so a change the stats cannot show (docs/scaling.md) is found here.
It reports; it changes nothing (a rerun with `--rehash` re-extracts what changed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from extract.sources.reading import ReadRules, read_files
from store import FeatureStore, StoreError


@dataclass
class DataCheck:
    """Files read, and (dataset, path, what) for every indexed file that no longer matches its index."""

    files_read: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def verify_data(store: str | Path, workers: int = 8) -> DataCheck:
    """Read every usable file of every dataset index of `store` and compare its content hash.

    Parameters
    ----------
    store
        The store folder.
    workers
        Threads reading files.

    Returns
    -------
    DataCheck
        How many files were read, and one problem per file gone, unreadable or changed.
    """
    features = FeatureStore(store)
    check = DataCheck()
    for name in features.datasets():
        index = features.dataset(name)
        rows, paths = [], []
        for row in (row for row, usable in enumerate(index.usable) if usable):
            try:
                paths.append(str(index.absolute(row)))  # confined to the data root
                rows.append(row)
            except (StoreError, ValueError) as error:
                check.problems.append((name, index.paths[row], str(error)))
        root = Path(index.data_root)
        reading = read_files(root, paths, [index.paths[row] for row in rows], ReadRules(rehash=True), workers)
        check.files_read += len(rows)
        for row, digest, reason in zip(rows, reading.hashes, reading.reasons):
            if reason:
                check.problems.append((name, index.paths[row], reason))
            elif digest != index.hashes[row]:
                check.problems.append((name, index.paths[row], "content changed since it was indexed "
                                                               "(`extract run --rehash` re-extracts it)"))
    return check
