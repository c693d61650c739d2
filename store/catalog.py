"""Which content hash lives in which committed shard row (and which are known bad)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from store import shards
from store.integrity import DamagedShard, check_shard, read_error


@dataclass
class ShardCatalog:
    shard_paths: list[Path] = field(default_factory=list)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    damaged: list[tuple[Path, str]] = field(default_factory=list)  # shards left out: (path, one line)

    @classmethod
    def load(cls, shards_dir: Path, deep: bool = False, drop_damaged: bool = False) -> "ShardCatalog":
        """The committed shards' rows; a damaged shard is refused in one line (store.integrity), or
        with `drop_damaged` left out and listed in `damaged`. `deep`: sha256 of every shard, once per process."""
        catalog = cls()
        for path, marker in shards.committed_shards(shards_dir):
            try:
                check_shard(path, marker, deep=deep)
                hashes, rejected, reasons = shards.read_keys(path)
            except DamagedShard as error:
                if not drop_damaged:
                    raise
                catalog.damaged.append((path, str(error)))
                continue
            except OSError as error:  # a Fletcher-32 mismatch in the hashes
                if not drop_damaged:
                    raise read_error(path, error) from None
                catalog.damaged.append((path, str(read_error(path, error))))
                continue
            shard_index = len(catalog.shard_paths)
            catalog.shard_paths.append(path)
            catalog.bytes += marker.get("bytes", 0)
            for row, key in enumerate(hashes):
                # First committed copy wins: two writers may both have extracted an image.
                catalog.rows.setdefault(key.decode(), (shard_index, row))
            for key, reason in zip(rejected, reasons):
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
