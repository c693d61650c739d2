"""`extract run`'s look at duplicates: a leak note, and `--group-duplicates` keeping near copies in one split.

After a run has extracted a configuration's features, the same photo in train and in validation
or test (an exact copy, or a resized, re-encoded or cropped one: store.duplicates) is counted
and named in one note of the summary. With the data option `group_duplicates`, each group of
duplicates is first put in one split: the files whose split the rule chose follow the group's
first file (by path) whose split was given (a folder, a table column), else its first file. Splits
given by the data are never changed; a group they split stays a leak, and the note says so.

The neighbour graph behind it is cached in the store (store.similarity.cached_graph): a rerun on
unchanged files reads no feature. A configuration of an augmented view is not checked (its
plain configuration is).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from extract.sources.records import Note
from extract.sources.splits import normalise_split
from store import ConfigView, DatasetIndex
from store.catalog import ShardCatalog

# The exact neighbour graph grows with the square of the rows: 8.8 s at 20,000 rows on the 2-core machine, 807 s
# at 100,000 (bench/README, Inspecting the data). Above this, a run's automatic check is a note pointing at the
# command that does it on demand; --group-duplicates still asks for it.
AUTO_CHECK_MAX_ROWS = 20_000


def check_duplicates(layout, config, index: DatasetIndex, entries: list, group: bool) -> Note | None:
    """Group the rule-split duplicates of `entries` into one split when `group` (their `split` changes);
    the leak note, if any.

    Parameters
    ----------
    layout : store.layout.StoreLayout
        The store the run wrote to.
    config : store.ExtractorConfig
        The configuration just extracted.
    index : DatasetIndex
        The scan's entries as an index, one row per entry (not written here).
    entries : list of ScanEntry
        The scan's entries: the `split` of those grouped is changed, before the run writes its index.
    group : bool
        Put each duplicate group's rule-split files into one split.

    Returns
    -------
    Note or None
        One line: held-out files with a duplicate in train, and how to list them.
    """
    if config.augment or not (group or {"validation", "test"} & set(index.splits)):
        return None  # an augmented view (its plain configuration is checked), or no held-out split to leak into
    if not group and len(index.paths) > AUTO_CHECK_MAX_ROWS:
        return Note("duplicates.unchecked", len(index.paths),
                    f"duplicates and leaks between splits not checked automatically above {AUTO_CHECK_MAX_ROWS:,} "
                    f"images ({len(index.paths):,} here): `heads inspect duplicates --store {layout.root} --config "
                    f"{config.config_id}` lists them", ())
    # scikit-learn and scipy come with the graph: imported only when it is built (a big rerun skips them)
    from store.duplicates import DEFAULT_THRESHOLD, leak_line, view_duplicates

    view = ConfigView(layout, config, index, catalog=ShardCatalog.load(layout.shards_dir(config.config_id)))
    rows, found = view_duplicates(view, DEFAULT_THRESHOLD)
    moved = 0
    if group and found.groups:
        moved = _group(rows, found.group, entries)
        if moved:
            index = dataclasses.replace(index, splits=[entry.split for entry in entries])
            view = ConfigView(layout, config, index, catalog=view.catalog)
            rows, found = view_duplicates(view, DEFAULT_THRESHOLD)
    if not found.leaks and not moved:
        return None
    message = leak_line(found.leaks, found.leak_groups, DEFAULT_THRESHOLD) if found.leaks else ""
    if found.leaks:
        leaking = np.isin(found.group, found.group[found.leaked])
        movable = any(_ruled(entries[rows[i]]) for i in np.flatnonzero(leaking))
        advice = ("--group-duplicates keeps each group in one split" if movable and not group else
                  "their splits are given by the data (folders, a table): move or remove one file of each group")
        message += (f"; listed by `heads inspect duplicates --store {layout.root} --config {config.config_id}`; "
                    f"{advice}")
    if moved:
        message = (f"--group-duplicates moved {moved} file{'s' * (moved != 1)} to the split of their duplicates"
                   + (f"; {message}" if message else ""))
    leaked = [index.paths[rows[i]] for i in np.flatnonzero(found.leaked)[:3]]
    return Note("duplicates.leak" if found.leaks else "duplicates.grouped", found.leaks or moved, message,
                tuple(leaked))


def _group(rows: np.ndarray, group: np.ndarray, entries: list) -> int:
    """Move the rule-split members of each group to the group's split; the number of files moved."""
    moved = 0
    for number in np.unique(group[group >= 0]):
        members = sorted(rows[group == number].tolist(), key=lambda r: entries[r].path)
        given = [r for r in members if not _ruled(entries[r])]
        target = entries[(given or members)[0]].split
        for r in members:
            if _ruled(entries[r]) and entries[r].split != target:
                entries[r].split = target
                moved += 1
    return moved


def _ruled(entry) -> bool:
    """Whether the split rule chose this entry's split (none given, or carved out of a given train split)."""
    return not entry.split_source or normalise_split(entry.split_source) != entry.split
