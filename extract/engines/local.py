"""The default engine: run every task here, one after the other, on one tf.data pipeline each."""
from __future__ import annotations

from typing import Callable

from extract.runner import ShardTask, TaskResult, run_task


class LocalEngine:
    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str],
            on_progress: Callable[[int], None] | None = None) -> list[TaskResult]:
        return [run_task(task, expected_hashes, on_progress) for task in tasks]
