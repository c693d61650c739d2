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
from typing import Sequence

import numpy as np

from heads.errors import HeadError
from heads.record import HeadRows
from store.text_columns import HASH_DTYPE, CodedText, HashText, PackedText, TextColumn

UNLABELLED = -1


@dataclass
class SplitRows:
    """The rows of one split to fit or score on, labels in the head's class space, aligned.
    `hashes` and `paths` read like lists of str (store.text_columns arrays when made here)."""

    split: str
    hashes: Sequence[str]
    labels: np.ndarray  # index into the head's class names
    paths: Sequence[str]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hashes)

    def subset(self, keep: np.ndarray) -> "SplitRows":
        keep = np.asarray(keep, dtype=bool)
        return SplitRows(self.split, _pick(self.hashes, keep), self.labels[keep], _pick(self.paths, keep),
                         list(self.notes))


def _pick(values: Sequence[str], keep: np.ndarray) -> Sequence[str]:
    if isinstance(values, TextColumn):
        return values[np.flatnonzero(keep)]
    return [v for v, k in zip(values, keep) if k]


def class_map(head_names: list[str], data_names: list[str]) -> np.ndarray:
    """data label id -> head label id, or -1 for a class the head does not know."""
    position = {name: i for i, name in enumerate(head_names)}
    return np.array([position.get(name, UNLABELLED) for name in data_names], dtype=np.int64)


@dataclass
class _Columns:
    """The usable rows of an index as arrays: positions, hashes (S64), split codes, paths."""

    rows: np.ndarray
    hashes: np.ndarray
    splits: CodedText
    paths: PackedText

    @classmethod
    def of(cls, index) -> "_Columns":
        reasons = CodedText.of(index.reasons)
        labels = np.asarray(index.labels, dtype=np.int64)
        rows = np.flatnonzero(reasons.mask("") & (labels >= 0))
        return cls(rows, HashText.of(index.hashes).array[rows], CodedText.of(index.splits)[rows],
                   PackedText.of(index.paths))


def index_rows(index, class_names: list[str]) -> HeadRows:
    """Every usable labelled row of a dataset index, in the class space of `class_names` (at fit time).
    Hashes as `S64` (what rows.h5 holds)."""
    columns = _Columns.of(index)
    mapping = class_map(class_names, list(index.classes))
    labels = mapping[np.asarray(index.labels, dtype=np.int64)[columns.rows]]
    known = labels >= 0
    splits = np.asarray(columns.splits.values + ("",), dtype=str)[columns.splits.codes[known]]
    return HeadRows(columns.hashes[known], splits, labels[known])


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n != 1 else f"1 {what.replace('rows', 'row').replace('images', 'image')}"


def _verb(n: int, plural: str) -> str:
    """The verb agreeing with a count: 'are' / 'is', 'hold' / 'holds'."""
    return plural if n != 1 else {"are": "is"}.get(plural, plural + "s")


@dataclass
class _Recorded:
    """A head's recorded rows looked up by hash, sorted arrays rather than dicts: for each wanted hash,
    whether it is known, its recorded split is `split` (content trained on counts as "train"), it
    was trained on, and its recorded label (the last record of a hash wins, as a dict would)."""

    known: np.ndarray
    then_is: np.ndarray
    trained: np.ndarray
    label: np.ndarray

    @classmethod
    def lookup(cls, recorded: HeadRows, hashes: np.ndarray, split: str, train_split: str) -> "_Recorded":
        keys = np.asarray(recorded.hashes, dtype=HASH_DTYPE)
        splits = np.asarray(recorded.splits, dtype=str)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = ordered[1:] != ordered[:-1]
        unique, last_row = ordered[last], order[last]
        if not len(unique):
            none = np.zeros(len(hashes), dtype=bool)
            return cls(none, none, none, np.zeros(len(hashes), dtype=np.int64))
        at = np.searchsorted(unique, hashes).clip(0, len(unique) - 1)
        known = unique[at] == hashes

        def held(mask: np.ndarray) -> np.ndarray:  # whether some record of the hash has mask set
            marked = np.sort(keys[mask])
            if not len(marked):
                return np.zeros(len(hashes), dtype=bool)
            where = np.searchsorted(marked, hashes).clip(0, len(marked) - 1)
            return marked[where] == hashes

        in_train = held(splits == "train")  # the split record keeps content trained on as "train"
        then_is = np.where(in_train, split == "train", splits[last_row[at]] == split) & known
        labels = np.asarray(recorded.labels, dtype=np.int64)[last_row[at]]
        return cls(known, then_is, held(splits == train_split) & known, labels)


def rows_to_score(head_names: list[str], recorded: HeadRows, index, split: str,
                  train_split: str = "train") -> SplitRows:
    """The rows of `split` a head with `recorded` rows may be scored on in today's `index`."""
    columns = _Columns.of(index)
    rows, hashes = columns.rows, columns.hashes
    data_labels = np.asarray(index.labels, dtype=np.int64)[rows]
    labels = class_map(head_names, list(index.classes))[data_labels]
    now_is = columns.splits.mask(split)
    then = _Recorded.lookup(recorded, hashes, split, train_split)
    known, was_trained = then.known, then.trained
    chosen = np.where(known, then.then_is, now_is)
    notes: list[str] = []

    def example(mask: np.ndarray) -> str:
        return columns.paths[int(rows[np.flatnonzero(mask)[0]])]

    if split != train_split:
        leaked = was_trained & now_is
        if leaked.any():
            n = int(leaked.sum())
            notes.append(f"{_count(n, 'rows')} of {split} {_verb(n, 'hold')} content the head was trained on "
                         f"(a copy of a {train_split} image, or a file moved from {train_split}; e.g. "
                         f"{example(leaked)}): not scored as {split}.")
    moved_in = chosen & known & ~was_trained & ~now_is
    moved_out = ~chosen & known & ~was_trained & now_is
    if moved_in.any() or moved_out.any():
        notes.append(f"{_count(int((moved_in | moved_out).sum()), 'rows')} changed split since the head was fitted "
                     f"(e.g. {example(moved_in | moved_out)}); scored by the head's own split record: "
                     f"{int(moved_out.sum())} left out of {split}, {int(moved_in.sum())} kept in it.")
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
    relabelled = chosen & known & (labels >= 0) & (then.label != labels)
    if relabelled.any():
        notes.append(f"{_count(int(relabelled.sum()), 'rows')} of {split} changed class since the head was fitted "
                     f"(e.g. {example(relabelled)}); scored with their class of today.")
    gone = _gone(recorded, hashes, split)
    if gone:
        notes.append(f"{_count(gone, 'rows')} of the head's {split} split {_verb(gone, 'are')} no longer in the data.")
    keep = chosen & (labels >= 0)
    return SplitRows(split, HashText(hashes[keep]), labels[keep], columns.paths[rows[keep]], notes)


def _gone(recorded: HeadRows, hashes: np.ndarray, split: str) -> int:
    """How many of the head's rows of `split` have no row in today's data."""
    theirs = np.asarray(recorded.hashes, dtype=HASH_DTYPE)[np.asarray(recorded.splits, dtype=str) == split]
    present = np.sort(hashes)
    if not len(present):
        return len(theirs)
    at = np.searchsorted(present, theirs).clip(0, len(present) - 1)
    return int((present[at] != theirs).sum())


def fit_rows(index, class_names: list[str], split: str, train_split: str = "train") -> SplitRows:
    """At fit time: the rows of a split; outside the train split, content also in the train split is
    left out (a copy of a training image is no validation image), and said so."""
    if split == train_split:
        return _exact_split(index, class_names, split)
    return rows_to_score(class_names, index_rows(index, class_names), index, split, train_split)


def _exact_split(index, class_names: list[str], split: str) -> SplitRows:
    columns = _Columns.of(index)
    labels = class_map(class_names, list(index.classes))[np.asarray(index.labels, dtype=np.int64)[columns.rows]]
    keep = columns.splits.mask(split) & (labels >= 0)
    return SplitRows(split, HashText(columns.hashes[keep]), labels[keep], columns.paths[columns.rows[keep]])


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
