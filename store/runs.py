"""The dataset index of a run: which file is which class in which split, and its content hash.

Written once per run, atomically, under `runs/`. A reader joins it with the
shards by content hash, so labels never depend on the order features were written.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from store import atomic
from store.shards import HASH_DTYPE

STRINGS = h5py.string_dtype(encoding="utf-8")


@dataclass
class RunIndex:
    """One row per image file found by the scan (rejected ones included, with a reason)."""

    data_root: str
    classes: list[str]
    paths: list[str]
    labels: np.ndarray
    splits: list[str]
    hashes: list[str]
    reasons: list[str]
    stats: dict = field(default_factory=dict)
    created: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def split_names(self) -> list[str]:
        return sorted(set(self.splits))


KEEP_RUNS = 5  # older indexes are pruned: each can be large for a large dataset


def write_run(runs_dir: Path, config_id: str, index: RunIndex) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    created = dt.datetime.now(dt.timezone.utc)
    final = runs_dir / f"run-{created.strftime('%Y%m%dT%H%M%S%f')}.h5"
    tmp = atomic.temporary_name(final)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["config_id"] = config_id
            f.attrs["data_root"] = index.data_root
            f.attrs["classes"] = json.dumps(index.classes)
            f.attrs["stats"] = json.dumps(index.stats, sort_keys=True)
            f.attrs["created"] = created.isoformat()
            f.create_dataset("path", data=index.paths, dtype=STRINGS)
            f.create_dataset("label", data=np.asarray(index.labels, dtype="int32"))
            f.create_dataset("split", data=index.splits, dtype=STRINGS)
            f.create_dataset("hash", data=np.array(index.hashes, dtype=HASH_DTYPE))
            f.create_dataset("reason", data=index.reasons, dtype=STRINGS)
        atomic.publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for old in sorted(runs_dir.glob("run-*.h5"))[:-KEEP_RUNS]:
        old.unlink(missing_ok=True)
    return final


def _strings(dataset) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else s for s in dataset[:]]


def _check_relative(paths: list[str], source: Path) -> None:
    """A store file must not be able to point a later command outside the data root."""
    for rel in paths:
        parts = Path(rel).parts
        if not rel or Path(rel).is_absolute() or ".." in parts or rel.startswith("~"):
            raise ValueError(f"Run index {source.name} holds a path outside its data root: {rel!r}")


def read_run(path: Path) -> RunIndex:
    with h5py.File(path, "r") as f:
        index = RunIndex(
            data_root=str(f.attrs["data_root"]),
            classes=json.loads(f.attrs["classes"]),
            paths=_strings(f["path"]),
            labels=f["label"][:],
            splits=_strings(f["split"]),
            hashes=[h.decode() for h in f["hash"][:]],
            reasons=_strings(f["reason"]),
            stats=json.loads(f.attrs["stats"]),
            created=str(f.attrs["created"]),
        )
    _check_relative(index.paths, path)
    return index


def latest_run(runs_dir: Path) -> Path | None:
    runs = sorted(runs_dir.glob("run-*.h5")) if runs_dir.is_dir() else []
    return runs[-1] if runs else None
