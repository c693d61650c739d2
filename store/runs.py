"""Run records: what one `extract run` (or merge) of a configuration did, as small JSON files.

`configs/<id>/runs/run-<utc>.json`, the 20 newest kept. A record names the dataset the run
covered and that dataset's digest, so one can tell which data a configuration's features
were last brought up to date with. Labels never come from here: they live in the dataset index.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store import atomic
from store.errors import StoreError
from store.layout import StoreLayout

KEEP_RECORDS = 20
RECORD_GLOB = "run-*.json"


@dataclass
class RunRecord:
    """What one `extract run` (or merge) did, recorded in the store.

    Parameters
    ----------
    config_id : str
        The configuration extracted.
    dataset : str
        The dataset's name.
    digest : str or None
        `DatasetIndex.digest()` of what the run indexed; None for a slice (the merge records it).
    stats : dict
        extracted, cached, rejected, changed, seconds...
    engine : str, default "local"
        How the work was dispatched.
    splits : list of str, optional
        The splits the run extracted; None: all.
    slice : str, optional
        "i/n" for one slice, "n slices" for a merge.
    devices : list of str, optional
        The devices the base ran on.
    created : str, optional
        When (ISO time).
    extra : dict, optional
        Fields of newer writers, kept as read.
    """
    config_id: str
    dataset: str  # the dataset's name
    digest: str | None  # DatasetIndex.digest() of what the run indexed; None for a slice (merge records it)
    stats: dict[str, Any]  # extracted, cached, rejected, changed, seconds, ...
    engine: str = "local"
    splits: list[str] | None = None  # the splits the run extracted; None = all
    slice: str | None = None  # "i/n" for one slice, "n slices" for a merge
    devices: list[str] = field(default_factory=list)
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # fields of newer writers, kept as read

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        missing = {"config_id", "dataset", "stats"} - set(data)
        if missing:
            raise StoreError(f"A run record lacks {', '.join(sorted(missing))}. Received fields: {sorted(data)}")
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})


def write_run_record(layout: StoreLayout, record: RunRecord) -> Path:
    runs_dir = layout.runs_dir(record.config_id)
    created = dt.datetime.now(dt.timezone.utc)
    final = runs_dir / f"run-{created.strftime('%Y%m%dT%H%M%S%f')}Z.json"
    while final.exists():
        created += dt.timedelta(microseconds=1)
        final = runs_dir / f"run-{created.strftime('%Y%m%dT%H%M%S%f')}Z.json"
    record.created = created.isoformat()
    atomic.write_json(final, record.to_json())
    for old in record_paths(layout, record.config_id)[:-KEEP_RECORDS]:
        old.unlink(missing_ok=True)
    return final


def record_paths(layout: StoreLayout, config_id: str) -> list[Path]:
    """A configuration's run records, oldest first."""
    runs_dir = layout.runs_dir(config_id)
    return sorted(runs_dir.glob(RECORD_GLOB)) if runs_dir.is_dir() else []


def read_run_record(path: Path) -> RunRecord:
    data = atomic.read_json(path)
    if not isinstance(data, dict):
        raise StoreError(f"A run record is a JSON object. Received: {type(data).__name__} in {path}")
    return RunRecord.from_json(data)


def run_records(layout: StoreLayout, config_id: str) -> list[RunRecord]:
    return [read_run_record(p) for p in record_paths(layout, config_id)]


def latest_run_record(layout: StoreLayout, config_id: str) -> RunRecord | None:
    paths = record_paths(layout, config_id)
    return read_run_record(paths[-1]) if paths else None
