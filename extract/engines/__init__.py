"""Engines dispatch shard tasks; they never extract anything themselves.

`local` runs the tasks in this process. A distributed engine (Ray) sends the same
picklable tasks to workers that build the model themselves and write their own shards.
An engine reports progress as (worker, images) so the driver can show every worker's speed.
"""
from __future__ import annotations

from typing import Callable, Protocol

from extract.runner import ShardTask, TaskResult

ENGINES = ("local", "ray")
Report = Callable[[str, int], None]  # (worker label, images done; negative when a retry takes some back)


class Engine(Protocol):
    name: str
    retries: int  # tasks re-dispatched after a failure, for the summary

    def open(self) -> None:
        """Reach the compute (start or join a cluster); refuses impossible requests before anything is written."""

    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str], report: Report) -> list[TaskResult]: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class EngineError(ValueError):
    pass


def get_engine(name: str, **options) -> Engine:
    """An engine by name; options left at None are the engine's defaults."""
    options = {key: value for key, value in options.items() if value is not None}
    if name == "local":
        if options:
            flags = " ".join(f"--{key.replace('_', '-')}" for key in sorted(options))
            raise EngineError(f"{flags} only apply to a distributed engine. Received: --engine local {flags}")
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
