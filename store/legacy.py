"""Version-1 stores: read as they are, upgraded in place by the first writer.

Version 1 kept a dataset index per configuration and run (`configs/<id>/runs/run-*.h5`) and
slice partials under `runs/partial/`. Read as version 2, each configuration's newest run index
is a dataset named after its data root's folder. The upgrade writes those as named dataset
indexes (with a run record per configuration), moves the partials to their version-2 place and
only then writes `store.json` version 2, so a kill at any moment leaves a store that reads and
upgrades again. The version-1 run indexes are left where they are: nothing written is lost.
"""
from __future__ import annotations

import json
from pathlib import Path


from store import atomic
from store.integrity import open_own
from store.datasets import DatasetIndex, legacy_dataset_name, read_columns, write_dataset
from store.layout import FORMAT_NAME, FORMAT_VERSION, StoreLayout
from store.lock import waiting_lock
from store.partials import partial_path, read_partial, write_partial
from store.runs import RunRecord, write_run_record

LEGACY_RUN_GLOB = "run-*.h5"
SCAN_STATS = ("layout", "skipped_hidden", "skipped_non_image")  # what of a v1 run's stats describes the data


def legacy_run_paths(layout: StoreLayout, config_id: str) -> list[Path]:
    runs_dir = layout.runs_dir(config_id)
    return sorted(runs_dir.glob(LEGACY_RUN_GLOB)) if runs_dir.is_dir() else []


def read_legacy_run(path: Path) -> DatasetIndex:
    with open_own(path) as f:
        data_root, stats = str(f.attrs["data_root"]), json.loads(f.attrs.get("stats", "{}"))
        return read_columns(f, Path(path), name=legacy_dataset_name(data_root),
                            source={"layout": stats.get("layout", ""), "upgraded_from": 1}, stats=stats)


def legacy_indexes(layout: StoreLayout) -> dict[str, DatasetIndex]:
    """Each configuration's newest version-1 run index, read as a dataset index."""
    found = {}
    if layout.configs_dir.is_dir():
        for config_dir in sorted(layout.configs_dir.iterdir()):
            paths = legacy_run_paths(layout, config_dir.name)
            if paths:
                found[config_dir.name] = read_legacy_run(paths[-1])
    return found


def _most_complete_last(indexes: list[DatasetIndex]) -> list[DatasetIndex]:
    """Write order within one name: the index covering the most splits (then rows, then the
    newest) goes last, so that it is the newest (an augmented view's train-only index never wins)."""
    return sorted(indexes, key=lambda ix: (len(ix.split_names()), len(ix), ix.created))


def upgrade(layout: StoreLayout) -> bool:
    """Upgrade a version-1 store in place; False when another writer already did."""
    with waiting_lock(layout.upgrade_lock):
        if atomic.read_json(layout.marker).get("version") == FORMAT_VERSION:
            return False
        indexes = legacy_indexes(layout)
        by_name: dict[str, list[DatasetIndex]] = {}
        for index in indexes.values():
            by_name.setdefault(index.name, []).append(index)
        for group in by_name.values():
            for index in _most_complete_last(group):
                scan_stats = {k: v for k, v in index.stats.items() if k in SCAN_STATS}
                write_dataset(layout, DatasetIndex(**{**_fields(index), "stats": scan_stats}))
        for config_id, index in indexes.items():
            stats = index.stats
            write_run_record(layout, RunRecord(
                config_id=config_id, dataset=index.name, digest=index.digest(), stats=stats,
                engine=str(stats.get("engine", "local")), splits=index.split_names(),
                extra={"upgraded_from": "version 1", "indexed": index.created}))
        if layout.configs_dir.is_dir():
            for old in sorted(layout.configs_dir.glob("*/runs/partial/slice-*-of-*.h5")):
                partial = read_partial(old)
                target = partial_path(layout, partial.config_id, partial.rows.name, partial.index, partial.count)
                if not target.exists():
                    write_partial(layout, partial.config_id, partial.index, partial.count, partial.rows,
                                  partial.positions, partial.total, partial.listing, partial.run_stats)
                old.unlink()
        atomic.write_json(layout.marker, {"format": FORMAT_NAME, "version": FORMAT_VERSION})
        return True


def _fields(index: DatasetIndex) -> dict:
    return {name: getattr(index, name) for name in (
        "name", "data_root", "classes", "paths", "labels", "splits", "hashes", "reasons", "split_sources",
        "source", "stats", "created")}
