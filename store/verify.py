"""Checking a store file by file, and repairing it by dropping what is broken.

Dropping is always safe: features are a cache keyed by content and indexes are rewritten by
the next run, so the next `extract run` re-extracts exactly what was dropped. A repair decides
and deletes under one exclusive writer lock per configuration: no shard can be committed
between the moment it is judged uncommitted and the moment it is deleted.
"""
from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from store import atomic, datasets, legacy, partials, runs, shards
from store.config import ExtractorConfig
from store.errors import StoreError
from store.index_check import edited_reason
from store.integrity import open_own
from store.layout import StoreLayout
from store.lock import writer_lock
from store.paths import confine
from store.reader import FeatureStore

READ_ERRORS = (OSError, KeyError, ValueError, TypeError)


@dataclass
class Problem:
    path: Path
    what: str
    removable: list[Path] = field(default_factory=list)  # what --repair deletes


@dataclass
class VerifyReport:
    shards_checked: int = 0
    rows_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shard(path: Path, marker: dict, config: ExtractorConfig) -> str | None:
    if path.stat().st_size != marker.get("bytes"):
        return f"size {path.stat().st_size} bytes, marker says {marker.get('bytes')}"
    if shards.file_sha256(path) != marker.get("sha256"):
        return "sha256 differs from its commit marker (corrupted after commit)"
    try:
        with open_own(path) as f:
            if f.attrs.get("config_id") != config.config_id:
                return f"belongs to configuration {f.attrs.get('config_id')!r}"
            count, features = len(f["hashes"]), f["features"]
            if count != marker.get("count") or features.shape[0] != count:
                return f"{count} hashes and {features.shape[0]} feature rows, marker says {marker.get('count')}"
            if tuple(features.shape[1:]) != tuple(config.feature_shape) or features.dtype != config.dtype:
                return f"features {features.shape[1:]} {features.dtype}, configuration says " \
                       f"{config.feature_shape} {config.dtype}"
            features[...]  # every chunk is readable
            if len(f["rejected_hashes"]) != len(f["rejected_reasons"]):
                return "rejected hashes and reasons differ in length"
    except StoreError as error:  # reaches outside itself (external storage, links, virtual datasets)
        return str(error)
    except (OSError, KeyError, ValueError) as error:
        return f"unreadable HDF5: {error}"
    return None


def _temporaries(folder: Path, skip: Path | None = None, recursive: bool = True) -> list[Problem]:
    """Unpublished staged files anywhere under `folder` (or in it alone): a dead writer's are dropped by a
    repair, another host's are only reported (whether their writer lives cannot be told from here)."""
    found = []
    for current, dirs, _ in os.walk(folder):
        if not recursive and Path(current) != Path(folder):
            break
        for temporary in atomic.stale_temporaries(current):
            if temporary.state == "dead":
                found.append(Problem(temporary.path, f"temporary of a dead writer (pid {temporary.pid} on this "
                                                     f"host) that never became {temporary.final}", [temporary.path]))
            else:
                host = temporary.host or "unknown"
                found.append(Problem(temporary.path, f"temporary of a writer on host {host} (liveness unknown "
                                                     f"from here; delete it once that writer is gone)"))
        dirs[:] = [d for d in dirs if atomic.parse_temporary(Path(current, d)) is None and Path(current, d) != skip]
    return found


def _check_shards(layout: StoreLayout, config: ExtractorConfig, report: VerifyReport) -> set[str]:
    """Problems of the shards and markers; returns the hashes (features and rejections) held intact."""
    shards_dir = layout.shards_dir(config.config_id)
    present: set[str] = set()
    if not shards_dir.is_dir():
        return present
    marked = set()
    for marker_path in sorted(shards_dir.glob(f"*{shards.MARKER_SUFFIX}")):
        try:
            marker = atomic.read_json(marker_path)
            path = confine(shards_dir, str(marker["shard"]), f"shard named by {marker_path.name}")
            if path.name != marker_path.name.replace(shards.MARKER_SUFFIX, ".h5") or path.parent != shards_dir:
                raise StoreError(f"names a foreign file: {marker['shard']!r}")
        except READ_ERRORS as error:
            report.problems.append(Problem(marker_path, f"commit marker unreadable or foreign: {error}", [marker_path]))
            continue
        marked.add(path.name)
        if not path.exists():
            report.problems.append(Problem(marker_path, "commit marker without its shard", [marker_path]))
            continue
        report.shards_checked += 1
        problem = _check_shard(path, marker, config)
        if problem:
            report.problems.append(Problem(path, problem, [marker_path, path]))
            continue
        keys, rejected, _ = shards.read_keys(path)
        report.rows_checked += len(keys)
        present.update(k.decode() for k in keys)
        present.update(k.decode() for k in rejected)
    for orphan in sorted(shards_dir.glob("shard-*.h5")):
        if orphan.name not in marked:
            report.problems.append(Problem(orphan, "uncommitted shard (a killed run's)", [orphan]))
    return present


def _indexed_for(feature_store: FeatureStore, config: ExtractorConfig, report: VerifyReport) -> list[tuple]:
    """(dataset index, splits) for each dataset the configuration's runs brought up to date: the
    version its newest record of that dataset names (by digest), when it is still kept."""
    layout = feature_store.layout
    if feature_store.version == 1:
        paths = legacy.legacy_run_paths(layout, config.config_id)
        if not paths:
            return []
        try:
            return [(legacy.read_legacy_run(paths[-1]), None)]
        except READ_ERRORS as error:
            report.problems.append(Problem(paths[-1], f"unreadable run index: {error}", [paths[-1]]))
            return []
    newest: dict[str, runs.RunRecord] = {}
    for path in runs.record_paths(layout, config.config_id):
        try:
            record = runs.read_run_record(path)
        except READ_ERRORS as error:
            report.problems.append(Problem(path, f"unreadable run record: {error}", [path]))
            continue
        if record.digest is not None:
            newest[record.dataset] = record
    found = []
    for name, record in sorted(newest.items()):
        try:
            paths = datasets.index_paths(layout, name)
        except StoreError:
            continue  # a record naming no valid dataset: nothing to compare with
        for path in reversed(paths):
            try:
                index = datasets.read_dataset(path)
            except READ_ERRORS:
                continue  # reported with the datasets
            if index.digest() == record.digest:
                found.append((index, record.splits))
                break
    return found  # a dataset that moved on, its version pruned, has nothing to compare with


def _check_config(feature_store: FeatureStore, config: ExtractorConfig, report: VerifyReport) -> None:
    layout = feature_store.layout
    present = _check_shards(layout, config, report)
    report.problems.extend(_temporaries(layout.config_dir(config.config_id)))
    for path in partials.partial_files(layout, config.config_id):
        try:
            partials.read_partial(path)
        except READ_ERRORS as error:
            report.problems.append(Problem(path, f"unreadable slice index: {error}", [path]))
    held = np.array(sorted(present), dtype="S64")
    for index, splits in _indexed_for(feature_store, config, report):
        wanted = index.usable & ~np.isin(index.hash_array, held)
        if splits is not None:
            wanted &= np.isin(np.asarray(index.splits, dtype=object), splits)
        missing = np.flatnonzero(wanted)
        if len(missing):
            report.problems.append(Problem(
                layout.config_dir(config.config_id),
                f"{len(missing)} indexed images have no features (dataset {index.name!r}, e.g. "
                f"{index.paths[missing[0]]}); `extract run` again re-extracts them"))


def _check_store_files(layout: StoreLayout, report: VerifyReport) -> None:
    """Everything outside the configurations: store.json temporaries, dataset indexes, heads' temporaries."""
    report.problems.extend(_temporaries(layout.root, skip=layout.configs_dir))
    # beside the configurations: one whose removal (`extract rm`) was killed after it was renamed away
    report.problems.extend(_temporaries(layout.configs_dir, recursive=False))
    if layout.datasets_dir.is_dir():
        for name in datasets.dataset_names(layout):
            paths = datasets.index_paths(layout, name)
            for path in paths:
                try:
                    index = datasets.read_dataset(path)
                except READ_ERRORS as error:
                    report.problems.append(Problem(path, f"unreadable dataset index: {error}", [path]))
                    continue
                edited = edited_reason(layout, index, newest=path == paths[-1])
                if edited:
                    report.problems.append(Problem(path, f"{edited}; `extract run` again indexes the data anew",
                                                   [path]))


def _delete(paths: list[Path], report: VerifyReport) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():  # a dead writer's staged folder
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        report.repaired.append(path)


def verify_store(root: str | Path, repair: bool = False) -> VerifyReport:
    """Check every file of the store; with `repair`, drop what is broken (see the module docstring)."""
    feature_store = FeatureStore(root)
    layout = feature_store.layout
    report = VerifyReport()
    for config in feature_store.configs():
        # Exclusive, like a full run: nothing is committed between judging and deleting.
        with writer_lock(layout.lock_file(config.config_id)) if repair else nullcontext():
            before = len(report.problems)
            _check_config(feature_store, config, report)
            if repair:
                _delete([p for problem in report.problems[before:] for p in problem.removable], report)
    before = len(report.problems)
    _check_store_files(layout, report)
    if repair:  # dataset indexes and temporaries are never rewritten in place: no lock needed
        _delete([p for problem in report.problems[before:] for p in problem.removable], report)
    return report
