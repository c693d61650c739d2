"""Engines dispatch shard tasks; they never extract anything themselves.

`local` runs the tasks in this process. A distributed engine (Ray) sends the same
picklable tasks to workers that build the model themselves and write their own shards.
"""
from __future__ import annotations

from typing import Callable, Protocol

from extract.runner import ShardTask, TaskResult

ENGINES = ("local", "ray")


class Engine(Protocol):
    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str],
            on_progress: Callable[[int], None] | None) -> list[TaskResult]: ...


class EngineError(ValueError):
    pass


def get_engine(name: str, **options) -> Engine:
    if name == "local":
        from extract.engines.local import LocalEngine

        return LocalEngine()
    if name == "ray":
        try:
            from extract.engines.ray_engine import RayEngine
        except ImportError as error:
            raise EngineError(
                f"--engine ray needs Ray: pip install -e \".[ray]\" ({error}). Received: --engine ray"
            ) from None
        return RayEngine(**options)
    raise EngineError(f"Unknown engine {name!r}. Allowed: {', '.join(ENGINES)}")
