"""Where the time of an extraction goes, stage by stage: read, decode, resize, wait, base, write.

`read`, `decode` and `resize` are summed over whatever prepares the images (decode worker processes,
tf.data threads), so they run beside the base and may add up to more than the run's wall time.
`wait` is the time the base sat idle waiting for a ready batch: the figure that says whether the
input keeps up. `base` is the runtime's forward passes and `write` the shard writer's commits (on
its own thread). Kept in the run record (`stats.stages`) and printed as one line.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

STAGES = ("read", "decode", "resize", "wait", "base", "write")
INPUT_STAGES = ("read", "decode", "resize")


class StageTimes:
    """Seconds per stage, added to from several threads."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.separable = {"resize": True}  # False when the resize runs inside a TensorFlow graph
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def add_all(self, seconds: dict[str, float]) -> None:
        with self._lock:
            for stage, value in seconds.items():
                self.seconds[stage] += value

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def to_record(self) -> dict[str, float | None]:
        """Seconds per stage, rounded; None for a stage that could not be timed on its own."""
        return {stage: (round(value, 3) if self.separable.get(stage, True) else None)
                for stage, value in self.seconds.items()}


def merge(records: list[dict]) -> dict[str, float | None]:
    """The stage seconds of several tasks added up (None stays None: not timed on its own)."""
    total: dict[str, float | None] = {}
    for record in records:
        for stage, value in record.items():
            if value is None or total.get(stage, 0.0) is None:
                total[stage] = None
            else:
                total[stage] = round(total.get(stage, 0.0) + value, 3)
    return total


def stage_line(stages: dict[str, float | None], input_by: str = "") -> str:
    """One line: each stage's seconds and share of all the stages' seconds (they overlap in time)."""
    timed = {stage: value for stage, value in stages.items() if value is not None}
    total = sum(timed.values())
    if total <= 0:
        return ""
    parts = []
    for stage in STAGES:
        if stage in stages:
            value = stages[stage]
            parts.append(f"{stage} {value:.1f} s ({value / total:.0%})" if value is not None
                         else f"{stage} in tf.data")
    by = f" (input: {input_by})" if input_by else ""
    return ", ".join(parts) + by
