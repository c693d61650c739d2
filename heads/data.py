"""How features reach a head: the whole split in memory when it fits, streamed from the store when not.

Streaming reads shards in a random order and shuffles rows within a buffer of a few
shards (the tf.data / WebDataset pattern): each shard file is opened once per epoch,
and memory is bounded by the buffer, not by the size of the store.
"""
from __future__ import annotations

import math
import os
from typing import Iterator

import numpy as np

from store import ConfigView

MEMORY_FRACTION = 0.5  # of the memory available now, for the features of all splits a fit reads
CHUNK_MB = 64  # features read at once where rows are only scored (eval, a fit's other splits): a constant


def available_memory_mb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / 2**20


def default_memory_limit_mb() -> float:
    return MEMORY_FRACTION * available_memory_mb()


def row_bytes(feature_shape: tuple[int, ...]) -> int:
    """Bytes of one feature row as heads train on it (float32)."""
    return 4 * math.prod(feature_shape)


class StreamSource:
    """Batches of (features, labels) for some rows of a configuration, read from the store as needed."""

    def __init__(self, view: ConfigView, hashes: list[str], labels: np.ndarray, buffer_rows: int):
        self.view = view
        self.hashes = list(hashes)
        self.labels = np.asarray(labels)
        self.buffer_rows = max(1, int(buffer_rows))
        self.feature_shape = tuple(view.config.feature_shape)
        self.batches_read = 0

    @classmethod
    def for_rows(cls, view: ConfigView, rows, buffer_rows: int) -> "StreamSource":
        """A source over the rows of a split (heads.binding.SplitRows)."""
        return cls(view, rows.hashes, rows.labels, buffer_rows)

    def __len__(self) -> int:
        return len(self.hashes)

    def subset(self, positions) -> "StreamSource":
        positions = np.asarray(positions, dtype=np.int64)
        return StreamSource(self.view, [self.hashes[i] for i in positions], self.labels[positions],
                            self.buffer_rows)

    def _groups(self, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
        """Positions in groups of about buffer_rows; with rng, whole shards in random order."""
        shard_of = self.view.catalog.find(self.hashes)[1]
        order = np.argsort(shard_of, kind="stable")
        if rng is not None:
            shards = np.unique(shard_of)
            rank = np.empty(shards.max() + 1 if len(shards) else 0, dtype=np.int64)
            rank[rng.permutation(shards)] = np.arange(len(shards))
            order = np.argsort(rank[shard_of], kind="stable")
        for start in range(0, len(order), self.buffer_rows):
            yield order[start:start + self.buffer_rows]

    def batches(self, batch_size: int, seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every row once; shuffled (shards, then rows within the buffer) when a seed is given."""
        rng = None if seed is None else np.random.default_rng(seed)
        carry_x: np.ndarray | None = None
        carry_y: np.ndarray | None = None
        for group in self._groups(rng):
            if rng is not None:
                group = rng.permutation(group)
            features = self.view.features_for([self.hashes[i] for i in group])
            labels = self.labels[group]
            if carry_x is not None:
                features, labels = np.concatenate([carry_x, features]), np.concatenate([carry_y, labels])
            full = len(labels) - len(labels) % batch_size
            for start in range(0, full, batch_size):
                self.batches_read += 1
                yield features[start:start + batch_size], labels[start:start + batch_size]
            carry_x, carry_y = (features[full:], labels[full:]) if full < len(labels) else (None, None)
        if carry_x is not None:
            self.batches_read += 1
            yield carry_x, carry_y


def buffer_rows_for(feature_shape: tuple[int, ...], memory_limit_mb: float, batch_size: int) -> int:
    """A quarter of the memory limit for the shuffle buffer (the rest: batches in flight, the model)."""
    return max(int(batch_size), int(memory_limit_mb * 2**20 / 4 / row_bytes(feature_shape)))


def chunk_rows_for(feature_shape: tuple[int, ...], memory_limit_mb: float | None = None,
                   batch_size: int = 512) -> int:
    """Rows read at once to score a split: at most CHUNK_MB of float32 features (and within the memory
    limit's buffer, when one is given), so memory does not grow with the split."""
    bounded = max(int(batch_size), int(CHUNK_MB * 2**20 / row_bytes(feature_shape)))
    if memory_limit_mb is None:
        return bounded
    return min(buffer_rows_for(feature_shape, memory_limit_mb, batch_size), bounded)
