"""Two labelling slips a scan names rather than trains on in silence.

- Labels that differ only by case or surrounding space (`Cat`, `cat`, `cat ` in a labels table, or
  folders `Cat/` and `cat/`) are kept as the classes given, but named in one note: they are most likely
  one class typed two ways.
- The same content (same sha256) under two or more classes: the same photo labelled twice. Counted in one
  note (how many contents, with an example), since a head can never get both right.

Both work in bulk: the content check compares 64-bit hashes of the content hashes in numpy, and looks
at the strings of the few candidate groups only.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from extract.sources.records import Note, ScanEntry
from extract.sources.report import plural


def label_notes(entries: list[ScanEntry], classes: list[str]) -> list[Note]:
    """The notes on `classes` alike but for case or space, and on contents labelled with two classes."""
    return _alike_labels(classes) + _same_content(entries, classes)


def _alike_labels(classes: list[str]) -> list[Note]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name in classes:
        groups[name.strip().casefold()].append(name)
    alike = [sorted(names) for names in groups.values() if len(names) > 1]
    if not alike:
        return []
    shown = "; ".join(" / ".join(repr(name) for name in names) for names in alike[:3])
    more = f" and {len(alike) - 3} more" if len(alike) > 3 else ""
    return [Note("labels.alike", len(alike),
                 f"{plural(len(alike), 'group')} of labels differ only by case or surrounding space and are kept "
                 f"as separate classes: {shown}{more} (rename to merge them)", tuple(alike[0]))]


def _same_content(entries: list[ScanEntry], classes: list[str]) -> list[Note]:
    if len(entries) < 2:
        return []
    # a row that is unusable (or unlabelled: label -1 already) is dropped below
    labels = np.fromiter((e.label if e.hash and not e.reason else -1 for e in entries), dtype=np.int64,
                         count=len(entries))
    keys = np.fromiter((hash(e.hash) for e in entries), dtype=np.int64, count=len(entries))
    rows = np.flatnonzero(labels >= 0)
    keys, labels = keys[rows], labels[rows]
    order = np.lexsort((labels, keys))
    keys, labels, rows = keys[order], labels[order], rows[order]
    same_key = keys[1:] == keys[:-1]
    # a key whose rows hold more than one label: a candidate (a 64-bit collision is told apart below)
    mixed = np.unique(keys[1:][same_key & (labels[1:] != labels[:-1])])
    if not len(mixed):
        return []
    by_hash: dict[str, set[int]] = defaultdict(set)
    paths: dict[str, list[str]] = defaultdict(list)
    for row in rows[np.isin(keys, mixed)].tolist():
        entry = entries[row]
        by_hash[entry.hash].add(entry.label)
        paths[entry.hash].append(entry.path)
    twice = sorted(h for h, found in by_hash.items() if len(found) > 1)
    if not twice:
        return []
    first = twice[0]
    example = " = ".join(sorted(paths[first])[:2])
    names = ", ".join(classes[label] for label in sorted(by_hash[first]))
    return [Note("labels.same_content", len(twice),
                 f"{plural(len(twice), 'image content')} found under two or more classes (the same photo labelled "
                 f"twice), e.g. {example} ({names})", tuple(sorted(paths[first])[:2]))]
