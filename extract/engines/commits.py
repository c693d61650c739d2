"""What a failed task had already committed, so that its retry does only the rest.

A worker that dies mid-task may have committed some of the task's shards (or all of
them, if it died between its last commit marker and its answer). Re-running the whole
task would store those images twice, so the driver re-reads the commit markers written
since the run began and re-dispatches only the images none of them holds. A shard with
no marker is not part of the store, so this never trusts a half-written file.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from extract.runner import ShardTask, TaskResult
from store import shards
from store.layout import StoreLayout


class CommitTracker:
    """The hashes committed in one configuration since the tracker was created."""

    def __init__(self, shards_dir: Path):
        self.shards_dir = shards_dir
        self._seen = {path.name for path, _ in shards.committed_shards(shards_dir)}
        self.features: dict[str, str] = {}  # hash -> shard name
        self.rejected: dict[str, tuple[str, str]] = {}  # hash -> (shard name, reason)

    @classmethod
    def for_task(cls, task: ShardTask) -> "CommitTracker":
        return cls(StoreLayout(Path(task.store_root)).shards_dir(task.config.config_id))

    def refresh(self) -> None:
        for path, _ in shards.committed_shards(self.shards_dir):
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            hashes, rejected, reasons = shards.read_keys(path)
            for key in hashes:
                self.features.setdefault(key.decode(), path.stem)
            for key, reason in zip(rejected, reasons):
                self.rejected.setdefault(key.decode(), (path.stem, reason))

    def salvage(self, task: ShardTask, expected_hashes: dict[str, str]) -> tuple[ShardTask, TaskResult]:
        """The part of a failed task still to do, and a result for the part already committed."""
        self.refresh()
        done = TaskResult(rejected=[], changed=[], shards=[])
        remaining: list[str] = []
        names: set[str] = set()
        for path in task.paths:
            digest = expected_hashes.get(path)
            if digest in self.features:
                done.extracted += 1
                names.add(self.features[digest])
            elif digest in self.rejected:
                name, reason = self.rejected[digest]
                done.rejected.append((path, reason))
                names.add(name)
            else:
                remaining.append(path)
        done.shards = sorted(names)
        return replace(task, paths=tuple(remaining)), done
