"""Exact and near duplicates among a dataset's rows, and the leaks they make between splits.

Exact duplicates are free: rows with the same content hash. Near duplicates are contents whose
vectors (store.vectors, reduced as the heads' rule says) have a cosine similarity at or above a
threshold; linked contents form one group, so a photo and its resized, re-encoded and cropped
copies are one group however they chain. A group with rows in train and in validation or test
is a leak: the held-out figure is measured partly on images the head was trained on.

The default threshold was chosen on Dogs vs Cats (bench/README.md, "Inspecting the data"): the
Keras blog's split holds dog.980 (train) ~ dog.1273 (validation) at 0.978 and dog.74 ~ dog.180
(train) at 0.976 in MobileNetV2 features, 0.981/0.989 in MobileNet, 0.980/0.980 in VGG16
(flattened); the next most similar pair of distinct photos is at most 0.89 in each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from store.similarity import NeighbourGraph, cached_graph, groups_of, pairs_above
from store.vectors import resolve_mode

DEFAULT_THRESHOLD = 0.95
GRAPH_NEIGHBOURS = 10  # neighbours kept per image: a group larger than this still links through its members
HELD_OUT = ("validation", "test")


@dataclass
class DuplicateGroups:
    """Per row: its duplicate group (-1: none), how it is a duplicate, its best similarity to another member.

    `kind` is "exact" (another file holds the same bytes... or the same content hash), "near" (a
    similar content), or "" for no duplicate. `leaked` marks the held-out rows (validation, test)
    whose group also has a train row."""

    group: np.ndarray
    kind: np.ndarray
    similarity: np.ndarray
    leaked: np.ndarray
    threshold: float
    method: str
    notes: list[str] = field(default_factory=list)

    @property
    def groups(self) -> int:
        return int(len(np.unique(self.group[self.group >= 0])))

    @property
    def leaks(self) -> int:
        """Held-out rows with a duplicate in train."""
        return int(self.leaked.sum())

    @property
    def leak_groups(self) -> int:
        return int(len(np.unique(self.group[self.leaked])))


def group_duplicates(contents: np.ndarray, splits: np.ndarray, graph: NeighbourGraph,
                     threshold: float = DEFAULT_THRESHOLD) -> DuplicateGroups:
    """Duplicate groups of rows from their contents and the contents' neighbour graph.

    Parameters
    ----------
    contents : ndarray of shape (n_rows,), int
        Each row's content (its row in the graph); rows with one content are exact duplicates.
    splits : ndarray of shape (n_rows,), str
        Each row's split.
    graph : NeighbourGraph
        Neighbours of the contents (store.similarity).
    threshold : float
        Cosine similarity at or above which two contents are near duplicates.

    Returns
    -------
    DuplicateGroups
    """
    contents = np.asarray(contents, dtype=np.int64)
    splits = np.asarray(splits, dtype=object)
    n_contents = len(graph.indices)
    i, j, sims = pairs_above(graph, threshold)
    component = groups_of(n_contents, i, j)
    best = np.zeros(n_contents, np.float32)
    np.maximum.at(best, i, sims)
    np.maximum.at(best, j, sims)
    copies = np.bincount(contents, minlength=n_contents)
    row_group = component[contents]
    members = np.bincount(row_group, minlength=n_contents)
    duplicated = members[row_group] > 1
    near = best[contents] > 0
    kind = np.where(near, "near", np.where(copies[contents] > 1, "exact", "")).astype(object)
    similarity = np.where(near, best[contents], np.where(copies[contents] > 1, 1.0, np.nan)).astype(np.float32)
    group = np.where(duplicated, row_group, -1)
    in_train = np.zeros(n_contents, bool)
    in_train[row_group[(splits == "train") & duplicated]] = True
    leaked = duplicated & np.isin(splits, HELD_OUT) & in_train[row_group]
    return DuplicateGroups(_renumber(group), kind, similarity, leaked, float(threshold), graph.method)


def leak_line(leaks: int, groups: int, threshold: float) -> str:
    """The one line that names a leak between splits (`extract run`'s summary, `heads inspect duplicates`)."""
    files, verb = ("file", "has") if leaks == 1 else ("files", "have")
    return (f"{leaks} validation/test {files} {verb} a duplicate in train ({groups} group{'s' * (groups != 1)}, "
            f"cosine >= {threshold:g}): held-out figures are measured partly on training images")


def _renumber(group: np.ndarray) -> np.ndarray:
    """Groups numbered 0, 1, ... in order of first appearance; -1 kept."""
    out = np.full(len(group), -1, np.int64)
    held = group >= 0
    _, first, inverse = np.unique(group[held], return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    out[held] = rank[inverse]
    return out


def view_rows(view, splits: list[str] | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The usable rows of a view's dataset that have features (of `splits`, or all).

    Parameters
    ----------
    view : store.ConfigView
    splits : list of str, optional

    Returns
    -------
    (rows, distinct, contents)
        rows: index positions; distinct: their distinct content hashes, sorted; contents: each row's
        position in `distinct`.
    """
    index = view.index
    chosen = index.usable & view.catalog.has_features(index.hash_array)
    if splits:
        chosen &= np.isin(np.asarray(index.splits, dtype=object), splits)
    rows = np.flatnonzero(chosen)
    distinct, contents = np.unique(np.asarray([index.hashes[r] for r in rows], dtype=object).astype(str),
                                   return_inverse=True)
    return rows, distinct.tolist(), contents.astype(np.int64)


def view_duplicates(view, threshold: float = DEFAULT_THRESHOLD, reduce: str | None = "auto",
                    splits: list[str] | None = None) -> tuple[np.ndarray, DuplicateGroups]:
    """Duplicate groups of a configuration's rows of its dataset (the neighbour graph cached in the store).

    Parameters
    ----------
    view : store.ConfigView
        A configuration joined with a dataset index.
    threshold : float
        Near-duplicate cosine similarity.
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).
    splits : list of str, optional
        Only these splits.

    Returns
    -------
    (rows, groups)
        rows: the dataset index positions the groups describe, aligned with them.
    """
    rows, distinct, contents = view_rows(view, splits)
    mode = resolve_mode(reduce, tuple(view.config.feature_shape))
    notes: list[str] = []
    graph = cached_graph(view, distinct, GRAPH_NEIGHBOURS, mode, notes)
    found = group_duplicates(contents, np.asarray([view.index.splits[r] for r in rows], dtype=object), graph,
                             threshold)
    found.notes = notes
    return rows, found
