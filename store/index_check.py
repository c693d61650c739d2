"""Whether a dataset index still holds the rows it was written with (labels edited inside an index are caught).

An index is written with its digest (DatasetIndex.digest: the sorted content hash, class name and split of
every usable row) as an attribute, and the run that wrote it records the same digest in its run record
(store.runs). An index whose rows no longer give that digest was changed after it was written: `extract verify`
reports it and `heads fit` refuses to train on it.

What an index is compared with:
- the digest written with it, when it has one (every index written since this check exists);
- else (an older index, the newest of its dataset) the digest of the newest run record naming its dataset,
  when that record is not older than the index: that run wrote the index. An index no record speaks for (heads predict's own, or
  one whose records were removed with their configuration) has nothing to be compared with.
"""
from __future__ import annotations

from store import runs
from store.datasets import DatasetIndex
from store.layout import StoreLayout

_READ_ERRORS = (OSError, KeyError, ValueError, TypeError)


def _newest_record_digest(layout: StoreLayout, index: DatasetIndex) -> str | None:
    """The digest of the newest run record (of any configuration) for the index's dataset, if that record
    is not older than the index; None when no record speaks for it."""
    if not layout.configs_dir.is_dir():
        return None
    newest = None
    for config_dir in layout.configs_dir.iterdir():
        if not config_dir.is_dir() or config_dir.name.startswith("."):
            continue
        for path in runs.record_paths(layout, config_dir.name):
            try:
                record = runs.read_run_record(path)
            except _READ_ERRORS:
                continue  # an unreadable record is `extract verify`'s own problem
            if record.dataset == index.name and record.digest and (newest is None or record.created > newest.created):
                newest = record
    if newest is None or not index.created or newest.created < index.created:
        return None
    return newest.digest


def expected_digest(layout: StoreLayout, index: DatasetIndex, newest: bool = True) -> tuple[str | None, str]:
    """(the digest the index should give, where it comes from), or (None, "") when nothing says. `newest`:
    the index is its dataset's newest version (only that one can be compared with the run records)."""
    if index.recorded_digest is not None:
        return index.recorded_digest, "the digest written with it"
    digest = _newest_record_digest(layout, index) if newest else None
    return (digest, "the digest its run record holds") if digest else (None, "")


def edited_reason(layout: StoreLayout, index: DatasetIndex, newest: bool = True) -> str | None:
    """One line when the index's rows differ from what was written (labels, splits or contents edited
    inside it), else None."""
    expected, source = expected_digest(layout, index, newest)
    if expected is None or index.digest() == expected:
        return None
    return (f"dataset index {index.name!r} was changed after it was written (its rows no longer match {source}: "
            f"labels, splits or contents edited inside it)")
