"""The read API later stages use: configurations, aligned splits, batch iteration."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from store import atomic, runs
from store.catalog import ShardCatalog
from store.config import ExtractorConfig
from store.layout import FORMAT_NAME, FORMAT_VERSION, StoreLayout


class StoreError(ValueError):
    """A store, configuration or split that cannot be read as asked."""


@dataclass
class SplitData:
    """Features and everything that describes them, aligned row by row."""

    features: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def is_store(path: Path) -> bool:
    return StoreLayout(Path(path)).marker.is_file()


def init_store(path: Path) -> StoreLayout:
    """Create the store folder (or check an existing one is a store of this format)."""
    layout = StoreLayout(Path(path))
    if not layout.marker.is_file() and _free_for_a_store(layout):
        layout.root.mkdir(parents=True, exist_ok=True)
        # Creators racing here (`--shard i/n` slices started together) each publish the same marker.
        atomic.write_json(layout.marker, {"format": FORMAT_NAME, "version": FORMAT_VERSION})
    if not layout.marker.is_file():
        raise StoreError(f"Path exists and is not a feature store (no store.json). Received: {layout.root}")
    FeatureStore(layout.root)  # validates format
    return layout


def _free_for_a_store(layout: StoreLayout) -> bool:
    """Missing, or a folder holding nothing but temporaries of store.json (another creator's,
    in flight or dead); the folder itself is kept, so a mount point or a symlink works."""
    root = layout.root
    if not root.exists():
        return True
    return root.is_dir() and all(atomic.is_temporary_of(entry, layout.marker) for entry in root.iterdir())


class FeatureStore:
    def __init__(self, path: str | Path):
        self.layout = StoreLayout(Path(path))
        if not self.layout.marker.is_file():
            raise StoreError(f"Not a feature store (no store.json). Received: {self.layout.root}")
        header = atomic.read_json(self.layout.marker)
        if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
            raise StoreError(
                f"Unsupported store format {header.get('format')!r} version {header.get('version')!r}; "
                f"this version reads {FORMAT_NAME!r} version {FORMAT_VERSION}."
            )

    def configs(self) -> list[ExtractorConfig]:
        if not self.layout.configs_dir.is_dir():
            return []
        found = []
        for config_dir in sorted(self.layout.configs_dir.iterdir()):
            config_file = config_dir / "config.json"
            if config_file.is_file():
                config = ExtractorConfig.from_json(atomic.read_json(config_file))
                if config.config_id != config_dir.name:
                    raise StoreError(f"Configuration folder {config_dir.name} holds {config.config_id}.")
                found.append(config)
        return found

    def select(self, selector: str | None = None) -> ExtractorConfig:
        """A configuration by id, id prefix or backbone name; the only one when None."""
        configs = self.configs()
        if not configs:
            raise StoreError(f"The store holds no configurations yet. Received: {self.layout.root}")
        if selector is None:
            matches = configs
        else:
            matches = [c for c in configs if c.config_id == selector] or [
                c for c in configs if c.config_id.startswith(selector) or c.backbone == selector
            ]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(c.config_id for c in configs)
        if not matches:
            raise StoreError(f"No configuration matches {selector!r}. Known: {known}")
        raise StoreError(f"Several configurations match {selector!r}; pick one by id. Known: {known}")

    def view(self, selector: str | None = None) -> "ConfigView":
        return ConfigView(self.layout, self.select(selector))


class ConfigView:
    """The features of one configuration, joined with its latest dataset index."""

    def __init__(self, layout: StoreLayout, config: ExtractorConfig):
        self.layout = layout
        self.config = config
        self.catalog = ShardCatalog.load(layout.shards_dir(config.config_id))
        run_path = runs.latest_run(layout.runs_dir(config.config_id))
        self.index = runs.read_run(run_path) if run_path else None

    @property
    def class_names(self) -> list[str]:
        return list(self.index.classes) if self.index else []

    def _rows(self, split: str) -> np.ndarray:
        if self.index is None:
            raise StoreError(f"Configuration {self.config.config_id} has no completed run yet.")
        if split not in self.index.split_names():
            raise StoreError(f"No split {split!r}. Known: {', '.join(self.index.split_names())}")
        return np.array([
            i for i, (s, h) in enumerate(zip(self.index.splits, self.index.hashes))
            if s == split and h in self.catalog.rows
        ], dtype=np.int64)

    def split_counts(self) -> dict[str, int]:
        if self.index is None:
            return {}
        return {name: len(self._rows(name)) for name in self.index.split_names()}

    def keys(self, split: str) -> tuple[list[str], np.ndarray, list[str]]:
        """(content hashes, labels, paths) of a split's rows that have features, without reading them."""
        rows = self._rows(split)
        index = self.index
        return ([index.hashes[i] for i in rows], np.asarray(index.labels)[rows].astype(np.int64),
                [index.paths[i] for i in rows])

    def features_for(self, hashes: list[str]) -> np.ndarray:
        """Feature rows for these content hashes, in the order given."""
        shard_ids, rows = self.catalog.locate(hashes)
        out = np.empty((len(hashes), *self.config.feature_shape), dtype=self.config.dtype)
        for shard_id in np.unique(shard_ids):
            picked = np.flatnonzero(shard_ids == shard_id)
            wanted, inverse = np.unique(rows[picked], return_inverse=True)
            with h5py.File(self.catalog.shard_paths[shard_id], "r") as f:
                out[picked] = f["features"][wanted][inverse]
        return out

    def read(self, split: str) -> SplitData:
        rows = self._rows(split)
        return self._gather(rows)

    def _gather(self, rows: np.ndarray) -> SplitData:
        index = self.index
        hashes = [index.hashes[i] for i in rows]
        return SplitData(
            features=self.features_for(hashes),
            labels=np.asarray(index.labels)[rows].astype(np.int64),
            class_names=list(index.classes),
            paths=[index.paths[i] for i in rows],
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
        """(path, reason) of every file of the latest run that has no features."""
        if self.index is None:
            return []
        out = []
        for path, content_hash, reason in zip(self.index.paths, self.index.hashes, self.index.reasons):
            if reason:
                out.append((path, reason))
            elif content_hash in self.catalog.rejected:
                out.append((path, self.catalog.rejected[content_hash]))
        return out

    def disk_bytes(self) -> int:
        root = self.layout.config_dir(self.config.config_id)
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
