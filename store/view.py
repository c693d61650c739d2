"""A configuration x a dataset: features, labels, class names and paths aligned row by row.

The join is by content hash, so a row's label comes from the dataset index and its
features from whichever committed shard holds that content, never from an order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from store import shards
from store.catalog import ShardCatalog
from store.config import ExtractorConfig
from store.datasets import DatasetIndex
from store.errors import StoreError
from store.integrity import open_own, read_error, read_rows
from store.layout import StoreLayout


@dataclass
class SplitData:
    """Features and everything that describes them, aligned row by row.

    Parameters
    ----------
    features : ndarray of shape (n, ...)
        One feature tensor per row, as stored (float16 unless the configuration says otherwise).
    labels : ndarray of int of shape (n,)
        Each row's class, an index into `class_names`.
    class_names : list of str
        The dataset's classes.
    paths : list of str
        Each row's file, relative to the dataset's data root.
    hashes : list of str
        Each row's content hash (sha256).
    """

    features: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def to_frame(self):
        """The split as a pandas DataFrame, one row per image.

        Returns
        -------
        pandas.DataFrame
            Columns: path, sha256, class (its name), label (its integer), then the features flattened in
            C order, one column each (f0, f1, ...), as float32.
        """
        import pandas as pd

        flat = np.asarray(self.features, dtype=np.float32).reshape(len(self.labels), -1)
        frame = pd.DataFrame(flat, columns=[f"f{i}" for i in range(flat.shape[1])])
        names = np.asarray(self.class_names, dtype=object)
        meta = pd.DataFrame({"path": self.paths, "sha256": self.hashes, "class": names[self.labels],
                             "label": self.labels})
        return pd.concat([meta, frame], axis=1)


class ConfigView:
    """The features of one configuration, joined with one dataset index (None: no index yet).

    Made by `FeatureStore.view`; `read(split)` returns a `SplitData`, `iter_batches` reads a split a
    batch at a time.

    Parameters
    ----------
    layout : StoreLayout
        Where the store's files live.
    config : ExtractorConfig
        The configuration whose features are read.
    index : DatasetIndex, optional
        The dataset the rows come from.
    note : str, optional
        One line when the dataset was chosen among several (the newest).
    catalog : ShardCatalog, optional
        The configuration's committed shards (loaded when not given).
    name : str, optional
        Its readable name in its store, for messages (default: its id).
    """

    def __init__(self, layout: StoreLayout, config: ExtractorConfig, index: DatasetIndex | None = None,
                 note: str | None = None, catalog: ShardCatalog | None = None, name: str | None = None):
        self.layout = layout
        self.config = config
        self.name = name or config.config_id  # its readable name in its store (store.names), for messages
        self.index = index
        self.note = note  # one line when the dataset was chosen among several (the newest)
        self.catalog = catalog if catalog is not None else ShardCatalog.load(layout.shards_dir(config.config_id))
        self._present: np.ndarray | None = None

    @property
    def dataset(self) -> str | None:
        return self.index.name if self.index is not None else None

    @property
    def class_names(self) -> list[str]:
        return list(self.index.classes) if self.index else []

    def _index(self) -> DatasetIndex:
        if self.index is None:
            raise StoreError(f"Configuration {self.name} has no dataset index yet "
                             f"(no run has finished, or slices await `extract merge`).")
        return self.index

    def _has_features(self) -> np.ndarray:
        if self._present is None:
            self._present = self.catalog.has_features(self._index().hash_array)
        return self._present

    def _rows(self, split: str) -> np.ndarray:
        index = self._index()
        if split not in index.split_names():
            raise StoreError(f"No split {split!r}. Known: {', '.join(index.split_names())}")
        rows = index.rows(split)
        return rows[self._has_features()[rows]]

    def split_counts(self) -> dict[str, int]:
        """Rows with features per split, for the splits that have any (see `missing` for the rest)."""
        if self.index is None:
            return {}
        counts = {name: len(self._rows(name)) for name in self.index.split_names()}
        return {name: count for name, count in counts.items() if count}

    def missing(self, split: str) -> list[str]:
        """Paths of the split's readable rows that have no features in this configuration (not
        extracted yet, or dropped by a repair), the files the catalog knows to be bad left out."""
        index = self._index()
        if split not in index.split_names():
            raise StoreError(f"No split {split!r}. Known: {', '.join(index.split_names())}")
        rows = index.rows(split)
        rows = rows[~self._has_features()[rows]]
        bad = self.catalog.rejected
        return [p for p, h in zip(index.paths.take(rows), index.hashes.take(rows)) if h not in bad]

    def keys(self, split: str) -> tuple[list[str], np.ndarray, list[str]]:
        """(content hashes, labels, paths) of a split's rows that have features, without reading them."""
        rows = self._rows(split)
        index = self._index()
        return index.hashes.take(rows), index.labels[rows].astype(np.int64), index.paths.take(rows)

    def features_for(self, hashes: list[str]) -> np.ndarray:
        """Feature rows for these content hashes, in the order given."""
        shard_ids, rows = self.catalog.locate(hashes)
        out = np.empty((len(hashes), *self.config.feature_shape), dtype=self.config.dtype)
        for shard_id in np.unique(shard_ids):
            picked = np.flatnonzero(shard_ids == shard_id)
            wanted, inverse = np.unique(rows[picked], return_inverse=True)
            path = self.catalog.shard_paths[shard_id]
            shards.check_committed(path)  # damaged bytes never reach a head
            try:
                with open_own(path) as f:
                    out[picked] = read_rows(f["features"], wanted)[inverse]
            except OSError as error:  # HDF5's Fletcher-32 check of a damaged chunk among others
                raise read_error(path, error) from None
        return out

    def read(self, split: str) -> SplitData:
        return self._gather(self._rows(split))

    def _gather(self, rows: np.ndarray) -> SplitData:
        index = self._index()
        hashes = index.hashes.take(rows)
        return SplitData(
            features=self.features_for(hashes),
            labels=index.labels[rows].astype(np.int64),
            class_names=list(index.classes),
            paths=index.paths.take(rows),
            hashes=hashes,
        )

    def iter_batches(
        self, split: str, batch_size: int = 256, shuffle: bool = False, seed: int | None = None
    ) -> Iterator[SplitData]:
        """Batches of a split without holding the split in memory."""
        rows = self._rows(split)
        if shuffle:
            rows = np.random.default_rng(seed).permutation(rows)
        for start in range(0, len(rows), batch_size):
            yield self._gather(rows[start:start + batch_size])

    def rejected(self) -> list[tuple[str, str]]:
        """(path, reason) of every file of the index that has no features and never will."""
        if self.index is None:
            return []
        index, bad = self.index, self.catalog.rejected
        flagged = ~index.reasons.mask("")
        if bad:  # one sorted search for the hashes the catalog knows to be bad, no str per row
            keys = np.sort(np.array([k.encode() for k in bad], dtype="S64"))
            at = np.searchsorted(keys, index.hash_array).clip(0, len(keys) - 1)
            flagged |= keys[at] == index.hash_array
        rows = np.flatnonzero(flagged)
        return [(path, reason or bad[content_hash]) for path, content_hash, reason in
                zip(index.paths.take(rows), index.hashes.take(rows), index.reasons.take(rows))]

    def disk_bytes(self) -> int:
        """The configuration's files on disk (its shards, records and partials; dataset indexes are shared)."""
        root = self.layout.config_dir(self.config.config_id)
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
