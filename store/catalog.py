"""Which content hash lives in which committed shard row (and which are known bad)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from store import catalog_index


@dataclass
class ShardCatalog:
    shard_paths: list[Path] = field(default_factory=list)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    bytes: int = 0

    @classmethod
    def load(cls, shards_dir: Path) -> "ShardCatalog":
        """The committed shards' keys, from the configuration's catalog index (store.catalog_index):
        no shard file is opened when the index covers them all."""
        columns = catalog_index.load_columns(Path(shards_dir))
        catalog = cls(shard_paths=[Path(shards_dir) / name for name in columns.names],
                      bytes=int(columns.sizes.sum()))
        # First committed copy wins: two writers may both have extracted an image.
        _, first = np.unique(columns.hashes, return_index=True)
        first.sort()
        keys = columns.hashes[first].astype("U64").tolist()
        catalog.rows = dict(zip(keys, zip(columns.shard[first].tolist(), columns.row[first].tolist())))
        for key, reason in zip(columns.rejected.tolist(), columns.reasons):
            catalog.rejected.setdefault(key.decode(), reason)
        return catalog

    def __contains__(self, content_hash: str) -> bool:
        return content_hash in self.rows or content_hash in self.rejected

    def has_features(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of these content hashes (an `S64` array) have features."""
        if not self.rows:
            return np.zeros(len(hashes), dtype=bool)
        known = np.array(list(self.rows), dtype="S64")
        return np.isin(np.asarray(hashes, dtype="S64"), known)

    def locate(self, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shard index and row of each hash; raises KeyError for a hash with no features."""
        missing = [h for h in hashes if h not in self.rows]
        if missing:
            raise KeyError(f"{len(missing)} images have no features in the store, e.g. {missing[0]}")
        located = np.array([self.rows[h] for h in hashes], dtype=np.int64).reshape(-1, 2)
        return located[:, 0], located[:, 1]
