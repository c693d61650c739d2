"""Which rows of today's data a head may be scored on, and in which of its classes.

A head's labels are integers into its own class names. The data of the day may name its
classes in another order, have gained or lost classes, moved files between splits or
relabelled them. Everything here is compared by class NAME and by content HASH:

- a row's class is mapped to the head's class of the same name; a class the head does not
  know is never scored as one it knows (those rows are left out, and said so);
- a row keeps the split the head recorded for its content; content the head trained on is
  a train row wherever else it appears (a copy in the validation folder is not scored as
  validation); a row the head never saw takes its current split;
- every difference is counted and said in one line each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heads.errors import HeadError
from heads.record import HeadRows

UNLABELLED = -1


@dataclass
class SplitRows:
    """The rows of one split to fit or score on, labels in the head's class space, aligned."""

    split: str
    hashes: list[str]
    labels: np.ndarray  # index into the head's class names
    paths: list[str]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hashes)

    def subset(self, keep: np.ndarray) -> "SplitRows":
        keep = np.asarray(keep, dtype=bool)
        return SplitRows(self.split, [h for h, k in zip(self.hashes, keep) if k], self.labels[keep],
                         [p for p, k in zip(self.paths, keep) if k], list(self.notes))


def class_map(head_names: list[str], data_names: list[str]) -> np.ndarray:
    """data label id -> head label id, or -1 for a class the head does not know."""
    position = {name: i for i, name in enumerate(head_names)}
    return np.array([position.get(name, UNLABELLED) for name in data_names], dtype=np.int64)


def _usable(index) -> np.ndarray:
    labels = np.asarray(index.labels, dtype=np.int64)
    return np.flatnonzero((np.asarray(index.reasons, dtype=object) == "") & (labels >= 0))


def index_rows(index, class_names: list[str]) -> HeadRows:
    """Every usable labelled row of a dataset index, in the class space of `class_names` (at fit time)."""
    rows = _usable(index)
    mapping = class_map(class_names, list(index.classes))
    labels = mapping[np.asarray(index.labels, dtype=np.int64)[rows]]
    known = labels >= 0
    hashes = np.asarray(index.hashes, dtype=object)[rows][known].astype(str)
    splits = np.asarray(index.splits, dtype=object)[rows][known].astype(str)
    return HeadRows(hashes, splits, labels[known])


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n != 1 else f"1 {what.replace('rows', 'row').replace('images', 'image')}"


def _verb(n: int, plural: str) -> str:
    """The verb agreeing with a count: 'are' / 'is', 'hold' / 'holds'."""
    return plural if n != 1 else {"are": "is"}.get(plural, plural + "s")


def rows_to_score(head_names: list[str], recorded: HeadRows, index, split: str,
                  train_split: str = "train") -> SplitRows:
    """The rows of `split` a head with `recorded` rows may be scored on in today's `index`."""
    rows = _usable(index)
    data_labels = np.asarray(index.labels, dtype=np.int64)[rows]
    labels = class_map(head_names, list(index.classes))[data_labels]
    hashes = np.asarray(index.hashes, dtype=object)[rows].astype(str)
    now = np.asarray(index.splits, dtype=object)[rows].astype(str)
    paths = np.asarray(index.paths, dtype=object)[rows].astype(str)
    split_of = recorded.split_of()
    trained = recorded.trained(train_split)
    known = np.array([h in split_of for h in hashes], dtype=bool)
    was_trained = np.array([h in trained for h in hashes], dtype=bool)
    then = np.array([split_of.get(h, s) for h, s in zip(hashes, now)], dtype=object).astype(str)
    chosen = then == split
    notes: list[str] = []

    if split != train_split:
        leaked = was_trained & (now == split)
        if leaked.any():
            n = int(leaked.sum())
            notes.append(f"{_count(n, 'rows')} of {split} {_verb(n, 'hold')} content the head was trained on "
                         f"(a copy of a {train_split} image, or a file moved from {train_split}; e.g. "
                         f"{paths[leaked][0]}): not scored as {split}.")
    moved_in = chosen & known & ~was_trained & (now != split)
    moved_out = ~chosen & known & ~was_trained & (now == split)
    if moved_in.any() or moved_out.any():
        example = paths[moved_in | moved_out][0]
        notes.append(f"{_count(int((moved_in | moved_out).sum()), 'rows')} changed split since the head was fitted "
                     f"(e.g. {example}); scored by the head's own split record: {int(moved_out.sum())} left out of "
                     f"{split}, {int(moved_in.sum())} kept in it.")
    new = chosen & ~known
    if new.any():
        n = int(new.sum())
        notes.append(f"{_count(n, 'rows')} of {split} {_verb(n, 'are')} new since the head was fitted "
                     f"(the head never saw them; scored).")
    unknown = chosen & (labels < 0)
    if unknown.any():
        names = sorted({index.classes[c] for c in data_labels[unknown]})
        n = int(unknown.sum())
        notes.append(f"{_count(n, 'rows')} of {split} {_verb(n, 'are')} of classes the head was not trained on "
                     f"({', '.join(names)}): not scored.")
    recorded_label = dict(zip(recorded.hashes.tolist(), recorded.labels.tolist()))
    relabelled = chosen & known & (labels >= 0) & np.array(
        [recorded_label.get(h, c) != c for h, c in zip(hashes, labels)], dtype=bool)
    if relabelled.any():
        notes.append(f"{_count(int(relabelled.sum()), 'rows')} of {split} changed class since the head was fitted "
                     f"(e.g. {paths[relabelled][0]}); scored with their class of today.")
    present = set(hashes.tolist())
    gone = sum(1 for h, s in zip(recorded.hashes.tolist(), recorded.splits.tolist()) if s == split and h not in present)
    if gone:
        notes.append(f"{_count(gone, 'rows')} of the head's {split} split {_verb(gone, 'are')} no longer in the data.")
    keep = chosen & (labels >= 0)
    return SplitRows(split, hashes[keep].tolist(), labels[keep], paths[keep].tolist(), notes)


def fit_rows(index, class_names: list[str], split: str, train_split: str = "train") -> SplitRows:
    """At fit time: the rows of a split; outside the train split, content also in the train split is
    left out (a copy of a training image is no validation image), and said so."""
    current = index_rows(index, class_names)
    return rows_to_score(class_names, current, index, split, train_split) if split != train_split else \
        _exact_split(index, class_names, split)


def _exact_split(index, class_names: list[str], split: str) -> SplitRows:
    rows = _usable(index)
    labels = class_map(class_names, list(index.classes))[np.asarray(index.labels, dtype=np.int64)[rows]]
    splits = np.asarray(index.splits, dtype=object)[rows].astype(str)
    keep = (splits == split) & (labels >= 0)
    hashes = np.asarray(index.hashes, dtype=object)[rows][keep].astype(str)
    paths = np.asarray(index.paths, dtype=object)[rows][keep].astype(str)
    return SplitRows(split, hashes.tolist(), labels[keep], paths.tolist())


def check_classes(head_names: list[str], index) -> list[str]:
    """One line when the data's classes differ from the head's (by name); refuses when none is shared."""
    data = list(index.classes)
    shared = [c for c in data if c in head_names]
    if not shared:
        raise HeadError(f"The data names the classes {', '.join(data)}; the head knows {', '.join(head_names)}: "
                        f"none in common. Refusing.")
    added = [c for c in data if c not in head_names]
    removed = [c for c in head_names if c not in data]
    notes = []
    if added or removed:
        parts = ([f"added {', '.join(added)} (not scored)"] if added else []) + \
                ([f"removed {', '.join(removed)}"] if removed else [])
        notes.append(f"The data's classes changed since the head was fitted: {'; '.join(parts)}.")
    return notes
