"""Progress from every worker, aggregated in the driver: images and images/s per worker.

A worker's speed is measured from its first report, so the time it spends importing
TensorFlow and building its model shows up in the overall rate, not in its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class WorkerStats:
    images: int = 0  # everything the worker reported (less what a retry took back)
    timed: int = 0  # images reported after its first report: the ones its clock has seen
    first: float = 0.0
    last: float = 0.0

    @property
    def images_per_second(self) -> float:
        span = self.last - self.first
        return self.timed / span if span > 0 else 0.0


class WorkerMeter:
    """The engine's progress callback: keeps per-worker stats and forwards to the caller's callbacks."""

    def __init__(self, on_progress: Callable[[int], None] | None = None,
                 on_worker_progress: Callable[[str, int], None] | None = None):
        self.on_progress, self.on_worker_progress = on_progress, on_worker_progress
        self.workers: dict[str, WorkerStats] = {}

    def __call__(self, worker: str, count: int) -> None:
        now = time.perf_counter()
        stats = self.workers.get(worker)
        if stats is None:
            stats = self.workers[worker] = WorkerStats(first=now, last=now)
        elif count > 0:
            stats.timed += count
            stats.last = now
        stats.images += count
        if self.on_progress:
            self.on_progress(count)
        if self.on_worker_progress:
            self.on_worker_progress(worker, count)

    def total(self) -> int:
        return sum(s.images for s in self.workers.values())

    def summary(self) -> dict[str, tuple[int, float]]:
        """worker -> (images, images/s)."""
        return {name: (s.images, round(s.images_per_second, 2)) for name, s in self.workers.items()}
