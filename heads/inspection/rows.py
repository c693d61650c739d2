"""What every analysis of `heads inspect` reads: a configuration's rows of a dataset, as vectors.

One row per usable file of the dataset index (every split, labelled or not) that has features
in the configuration, aligned with its path, split, class and content hash in a DataFrame.
Files with the same content share one vector (they are one image to the backbone); spatial
features are reduced by the heads' `--reduce` rule (store.vectors), chunk by chunk in shard
order, so a store larger than memory is read once, never whole. Nothing is extracted here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from heads.errors import HeadError
from store import ConfigView, DatasetIndex, FeatureStore, derived
from store.duplicates import view_rows
from store.similarity import NeighbourGraph, cached_graph, unit_rows
from store.vectors import describe_mode, read_vectors, resolve_mode

READ_ROWS = 2048  # feature rows read (and reduced) at a time


@dataclass
class InspectedRows:
    """A configuration's rows of one dataset: `frame` (path, split, class, label, hash) aligned with
    `vectors[frame.content]` (one reduced float32 vector per distinct content)."""

    frame: pd.DataFrame
    vectors: np.ndarray
    distinct: list[str]  # the content hash of each vector, sorted
    view: ConfigView
    reduce: str  # the reduction applied: flatten, avg or max
    reduce_note: str  # one line: how stored rows became vectors
    notes: list[str] = field(default_factory=list)

    @property
    def index(self) -> DatasetIndex:
        return self.view.index

    @property
    def config_id(self) -> str:
        return self.view.config.config_id

    @property
    def class_names(self) -> list[str]:
        return self.view.class_names

    @property
    def content(self) -> np.ndarray:
        """Each row's vector (its position in `vectors`)."""
        return self.frame["content"].to_numpy()

    @cached_property
    def unit(self) -> np.ndarray:
        """The vectors at unit length: cosine similarity is their dot product."""
        return unit_rows(self.vectors)

    def graph(self, k: int) -> NeighbourGraph:
        """The k nearest other contents of every content (cached in the store, see store.similarity)."""
        return cached_graph(self.view, self.distinct, k, self.reduce, self.notes, unit=self.unit)

    def cache_key(self, analysis: str, **params) -> dict:
        """What a cached result of this data depends on: the dataset's digest, the rows, the reduction."""
        return {"analysis": analysis, "dataset": self.index.name, "digest": self.index.digest(),
                "config": self.config_id, "rows": len(self.frame), "reduce": self.reduce, **params}

    def load_cached(self, analysis: str, key: dict) -> dict[str, np.ndarray] | None:
        found = derived.load(self.view.layout, self.config_id, analysis, key)
        if found.damaged:
            self.notes.append(found.damaged)
        return found.arrays

    def save_cached(self, analysis: str, key: dict, arrays: dict[str, np.ndarray]) -> None:
        try:
            derived.save(self.view.layout, self.config_id, analysis, key, arrays)
        except OSError as error:  # a read-only store still answers; it only cannot remember
            self.notes.append(f"could not cache {analysis} in the store ({error.strerror or error}): "
                              f"it is computed again next time")



def file_locator(index: DatasetIndex):
    """A function giving the file of an indexed path under the data root, or None when the file is gone
    or the path is not indexed or leads out of the root (never opened then).

    Parameters
    ----------
    index : DatasetIndex

    Returns
    -------
    callable
        path (str, as indexed) -> Path or None
    """
    row_of = {path: row for row, path in enumerate(index.paths)}

    def locate(path: str) -> Path | None:
        try:
            found = index.absolute(row_of[path])
        except (KeyError, ValueError):
            return None
        return found if found.is_file() else None

    return locate


def read_rows(store: str | Path, config: str | None = None, dataset: str | None = None,
              reduce: str | None = "auto", splits: list[str] | None = None) -> InspectedRows:
    """A configuration's rows of a dataset as vectors, for the analyses of heads.inspection.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store (the only one, or the newest, said in a note).
    reduce : str, optional
        How spatial features become vectors: auto (the heads' rule), flatten, avg or max.
    splits : list of str, optional
        Only these splits (all when None).

    Returns
    -------
    InspectedRows
    """
    view = FeatureStore(store).view(config, dataset)
    if view.index is None:
        raise HeadError(f"Configuration {view.config.config_id} has no dataset index yet (no run has finished). "
                        f"Received: {store}")
    index = view.index
    shape = tuple(view.config.feature_shape)
    try:
        mode = resolve_mode(reduce, shape)
    except ValueError as error:
        raise HeadError(f"{error} (configuration {view.config.config_id})") from None
    notes = [view.note] if view.note else []
    known = index.split_names()
    unknown = [s for s in splits or [] if s not in known]
    if unknown:
        raise HeadError(f"No split {', '.join(unknown)} in dataset {index.name}. Known: {', '.join(known)}")
    rows, distinct, content = view_rows(view, splits)
    chosen = index.usable & np.isin(np.asarray(index.splits, dtype=object), splits or known)
    lacking = np.flatnonzero(chosen & ~view.catalog.has_features(index.hash_array))
    if len(lacking):
        examples = ", ".join(index.paths[i] for i in lacking[:3])
        notes.append(f"{len(lacking)} rows have no features of {view.config.config_id} ({examples}"
                     f"{', ...' if len(lacking) > 3 else ''}; `extract run` extracts them): not inspected.")
    if not len(rows):
        raise HeadError(f"No row of dataset {index.name} has features of {view.config.config_id}"
                        f"{' in splits ' + ', '.join(splits) if splits else ''}: nothing to inspect.")
    labels = index.labels[rows].astype(np.int64)
    frame = pd.DataFrame({
        "path": [index.paths[i] for i in rows], "split": [index.splits[i] for i in rows],
        "class": [index.class_name(int(label)) or None for label in labels], "label": labels,
        "hash": [index.hashes[i] for i in rows], "content": content})
    vectors = _read_vectors(view, distinct, mode)
    return InspectedRows(frame, vectors, distinct, view, mode, describe_mode(mode, shape, reduce), notes)


def _read_vectors(view: ConfigView, hashes: list[str], mode: str) -> np.ndarray:
    vectors = read_vectors(view, hashes, mode, READ_ROWS)
    if not np.isfinite(vectors).all():
        bad = int((~np.isfinite(vectors).all(axis=1)).sum())
        raise HeadError(f"{bad} feature rows of {view.config.config_id} hold NaN or infinite values: the store is "
                        f"damaged (`extract verify --repair`, then `extract run`).")
    return vectors
