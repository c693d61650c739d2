"""The default engine: run every task here, one after the other, on one tf.data pipeline each."""
from __future__ import annotations

from extract import devices
from extract.runner import ShardTask, TaskResult, run_task


class LocalEngine:
    name = "local"
    retries = 0

    def open(self) -> None:
        pass

    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str], report) -> list[TaskResult]:
        if not tasks:
            return []  # nothing to extract: TensorFlow is not even imported
        devices.prepare_tensorflow()
        label = f"local {devices.device_label()}"  # the progress label says where the images go
        results = [run_task(task, expected_hashes, lambda count: report(label, count)) for task in tasks]
        for result in results:
            result.worker = label
        return results

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "local (this process)"
