"""Collects extracted rows and commits them as shards on a background thread,
so that writing HDF5 never stalls the base."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from store.shards import ShardContent, write_shard


class ShardWriter:
    def __init__(self, shards_dir: Path, config_id: str, dtype: str, feature_shape: tuple[int, ...],
                 shard_size: int):
        self.shards_dir, self.config_id, self.dtype = shards_dir, config_id, np.dtype(dtype)
        self.feature_shape = tuple(feature_shape)
        self.shard_size = shard_size
        self._hashes: list[str] = []
        self._rows: list[np.ndarray] = []
        self._rejected: list[tuple[str, str]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
        self._pending: Future | None = None
        self.shards: list[str] = []

    def add(self, content_hash: str, features: np.ndarray) -> None:
        self._hashes.append(content_hash)
        self._rows.append(features)
        if len(self._hashes) + len(self._rejected) >= self.shard_size:
            self.flush()

    def reject(self, content_hash: str, reason: str) -> None:
        if content_hash:  # an unreadable file has no content to key a verdict on
            self._rejected.append((content_hash, reason))

    def flush(self) -> None:
        if not self._hashes and not self._rejected:
            return
        rows = np.stack(self._rows) if self._rows else np.zeros((0, *self.feature_shape), self.dtype)
        stored = rows.astype(self.dtype)
        if self.dtype == np.float16 and not np.isfinite(stored).all() and np.isfinite(rows).all():
            raise OverflowError("Features overflow float16 (values above 65504); use --dtype float32.")
        content = ShardContent(
            hashes=self._hashes, features=stored,
            rejected_hashes=[h for h, _ in self._rejected], rejected_reasons=[r for _, r in self._rejected],
        )
        self._hashes, self._rows, self._rejected = [], [], []
        self._wait()  # at most one shard in flight: memory stays bounded
        self._pending = self._pool.submit(write_shard, self.shards_dir, self.config_id, content)

    def _wait(self) -> None:
        if self._pending is not None:
            self.shards.append(self._pending.result())
            self._pending = None

    def close(self) -> None:
        try:
            self.flush()
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
