"""The default engine: run every task here, one after the other, on one tf.data pipeline each."""
from __future__ import annotations

from extract.runner import ShardTask, TaskResult, run_task


class LocalEngine:
    name = "local"
    retries = 0

    def open(self) -> None:
        pass

    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str], report) -> list[TaskResult]:
        return [run_task(task, expected_hashes, lambda count: report("local", count)) for task in tasks]

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "local (this process)"
