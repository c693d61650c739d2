"""Collects extracted rows and commits them as shards on a background thread,
so that writing HDF5 never stalls the base. The last guard before the store: a row that is not
finite, or not finite once cast to the storage dtype, never reaches a shard."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from extract.stages import StageTimes
from store.shards import ShardContent, write_shard


class ShardWriter:
    def __init__(self, shards_dir: Path, config_id: str, dtype: str, feature_shape: tuple[int, ...],
                 shard_size: int, times: StageTimes | None = None):
        self.shards_dir, self.config_id, self.dtype = shards_dir, config_id, np.dtype(dtype)
        self.feature_shape = tuple(feature_shape)
        self.shard_size = shard_size
        self._hashes: list[str] = []
        self._rows: list[np.ndarray] = []
        self._rejected: list[tuple[str, str]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
        self._pending: Future | None = None
        self.shards: list[str] = []
        self.times = times if times is not None else StageTimes()

    def add(self, content_hash: str, features: np.ndarray, source: str = "") -> None:
        """`source` (the file's path) names the file in a refusal."""
        what = f" of {source}" if source else f" of the image {content_hash[:16]}..."
        if not np.isfinite(features).all():
            raise ValueError(f"Features{what} are not finite (inf or nan): refused, nothing stored for it.")
        with np.errstate(over="ignore"):  # an overflow is reported below, naming the file
            stored = np.asarray(features).astype(self.dtype)
        if not np.isfinite(stored).all():
            raise OverflowError(f"Features{what} overflow {self.dtype} (values above "
                                f"{float(np.finfo(self.dtype).max):.0f}); use --dtype float32.")
        self._hashes.append(content_hash)
        self._rows.append(stored)
        if len(self._hashes) + len(self._rejected) >= self.shard_size:
            self.flush()

    def reject(self, content_hash: str, reason: str) -> None:
        if content_hash:  # an unreadable file has no content to key a verdict on
            self._rejected.append((content_hash, reason))

    def flush(self) -> None:
        if not self._hashes and not self._rejected:
            return
        stored = np.stack(self._rows) if self._rows else np.zeros((0, *self.feature_shape), self.dtype)
        content = ShardContent(
            hashes=self._hashes, features=stored,
            rejected_hashes=[h for h, _ in self._rejected], rejected_reasons=[r for _, r in self._rejected],
        )
        self._hashes, self._rows, self._rejected = [], [], []
        self._wait()  # at most one shard in flight: memory stays bounded
        self._pending = self._pool.submit(self._write, content)

    def _write(self, content: ShardContent) -> str:
        with self.times.timing("write"):
            return write_shard(self.shards_dir, self.config_id, content)

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
