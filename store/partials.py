"""Partial indexes of `--shard i/n` slices, and combining a complete set into a dataset index.

Each slice records the rows of the scan it covered, with their positions in the full scan,
under `configs/<id>/partial/<dataset>/slice-<i>-of-<n>.h5`. A merge combines a complete set
(every slice of one `n`, all of the same listing) into the dataset's index.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from store import atomic
from store.datasets import DatasetIndex, check_dataset_name, legacy_dataset_name, read_columns, write_columns
from store.errors import StoreError
from store.integrity import open_own
from store.layout import StoreLayout

PARTIAL_GLOB = "slice-*-of-*.h5"


class PartialError(StoreError):
    """Slices that cannot be combined (missing, duplicated, or from different scans)."""


@dataclass
class Partial:
    path: Path
    index: int  # this slice is `index` of `count`
    count: int
    total: int  # files in the full scan
    listing: str  # sha256 of the scan's paths, labels and splits (see extract.slices.listing_digest)
    config_id: str
    positions: np.ndarray  # each row's place in the full scan
    rows: DatasetIndex  # the rows this slice covered
    run_stats: dict  # what the slice's run did (extracted, cached, ...)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def partial_path(layout: StoreLayout, config_id: str, dataset: str, index: int, count: int) -> Path:
    return layout.partial_dir(config_id, check_dataset_name(dataset)) / f"slice-{index}-of-{count}.h5"


def write_partial(layout: StoreLayout, config_id: str, index: int, count: int, rows: DatasetIndex,
                  positions: list[int] | np.ndarray, total: int, listing: str, run_stats: dict) -> Path:
    """The rows of the scan slice `index` of `count` covered (staged write)."""
    if len(positions) != len(rows):
        raise PartialError(f"One position per row. Received: {len(positions)} positions, {len(rows)} rows")
    final = partial_path(layout, config_id, rows.name, index, count)
    with atomic.staged_file(final) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({
            "config_id": config_id, "name": rows.name, "data_root": rows.data_root,
            "classes": json.dumps(rows.classes), "source": json.dumps(rows.source, sort_keys=True),
            "slice": f"{index}/{count}", "total": total, "listing": listing,
            "stats": json.dumps(rows.stats, sort_keys=True), "run_stats": json.dumps(run_stats, sort_keys=True),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
        })
        f.create_dataset("position", data=np.asarray(positions, dtype=np.int64))
        write_columns(f, rows)
    return final


def read_partial(path: Path) -> Partial:
    """A partial index; also reads version-1 ones (`runs/partial/`, no dataset name: named after
    the data root's folder, and their `stats` were the run's)."""
    with open_own(path) as f:
        attrs = dict(f.attrs)
        match = re.fullmatch(r"(\d+)/(\d+)", str(attrs.get("slice", "")))
        if not match or int(match[1]) >= int(match[2]):
            raise PartialError(f"A partial index names its slice as i/n. Received: {attrs.get('slice')!r} in {path}")
        legacy = "name" not in attrs
        name = legacy_dataset_name(str(attrs["data_root"])) if legacy else str(attrs["name"])
        stats = json.loads(attrs.get("stats", "{}"))
        rows = read_columns(f, Path(path), name=name, source=json.loads(attrs.get("source", "{}")),
                            stats={} if legacy else stats)
        return Partial(Path(path), int(match[1]), int(match[2]), int(attrs["total"]), str(attrs["listing"]),
                       str(attrs["config_id"]), f["position"][:], rows,
                       stats if legacy else json.loads(attrs.get("run_stats", "{}")))


def partial_files(layout: StoreLayout, config_id: str) -> list[Path]:
    """Every partial index of a configuration, whatever its dataset."""
    folder = layout.config_dir(config_id) / "partial"
    return sorted(folder.glob(f"*/{PARTIAL_GLOB}")) if folder.is_dir() else []


def combine(partials: list[Partial]) -> tuple[DatasetIndex, dict]:
    """The dataset index from one complete set of slices (in scan order), and the summed run stats."""
    if not partials:
        raise PartialError("No slice indexes to combine.")
    first = partials[0]
    count = first.count
    found = {p.index for p in partials if p.count == count}
    missing = sorted(set(range(count)) - found)
    if missing or len(partials) != count:
        raise PartialError(f"Slices {', '.join(map(str, missing)) or '(duplicates)'} of {count} have not "
                           f"finished (found {len(found)} of {count}); run them, then merge again.")
    for other in partials[1:]:
        if (other.listing, other.total, other.rows.classes, other.rows.name) != \
                (first.listing, first.total, first.rows.classes, first.rows.name):
            raise PartialError(
                f"Slices {first.label} and {other.label} scanned different datasets ({first.total} and "
                f"{other.total} files); the data changed between them: run a plain `extract run` instead.")
    positions = np.concatenate([p.positions for p in partials])
    order = np.argsort(positions, kind="stable")
    if not np.array_equal(positions[order], np.arange(first.total)):  # every file covered exactly once
        raise PartialError(f"The slices cover {len(np.unique(positions))} of {first.total} scanned files "
                           f"({len(positions)} rows): a file changed between them; run a plain `extract run`.")

    def joined(column: str) -> list:
        values = [v for p in partials for v in getattr(p.rows, column)]
        return [values[i] for i in order]

    sums = {k: sum(p.run_stats.get(k, 0) for p in partials) for k in ("extracted", "cached", "rejected", "changed")}
    run_stats = {**first.run_stats, **sums, "slices": count,
                 "seconds": max(p.run_stats.get("seconds", 0) for p in partials)}
    index = DatasetIndex(
        name=first.rows.name, data_root=first.rows.data_root, classes=first.rows.classes, paths=joined("paths"),
        labels=np.asarray(joined("labels"), dtype=np.int32), splits=joined("splits"), hashes=joined("hashes"),
        reasons=joined("reasons"), split_sources=joined("split_sources"), source=first.rows.source,
        stats=first.rows.stats)
    return index, run_stats
