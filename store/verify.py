"""Checking a store file by file, and repairing it by dropping what is broken.

Dropping is always safe: features are a cache keyed by content, so the next
`extract run` re-extracts exactly what was dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py

from store import atomic, runs, shards
from store.config import ExtractorConfig
from store.layout import StoreLayout
from store.lock import writer_lock
from store.reader import FeatureStore


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
        with h5py.File(path, "r") as f:
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
    except (OSError, KeyError, ValueError) as error:
        return f"unreadable HDF5: {error}"
    return None


def verify_store(root: str | Path, repair: bool = False) -> VerifyReport:
    feature_store = FeatureStore(root)
    layout: StoreLayout = feature_store.layout
    report = VerifyReport()
    for config in feature_store.configs():
        shards_dir = layout.shards_dir(config.config_id)
        present: set[str] = set()
        for path, marker in shards.committed_shards(shards_dir):
            report.shards_checked += 1
            problem = _check_shard(path, marker, config)
            marker_path = shards_dir / f"{path.stem}{shards.MARKER_SUFFIX}"
            if problem:
                report.problems.append(Problem(path, problem, [marker_path, path]))
                continue
            keys, rejected, _ = shards.read_keys(path)
            report.rows_checked += len(keys)
            present.update(k.decode() for k in keys)
            present.update(k.decode() for k in rejected)
        for marker_path in sorted(shards_dir.glob(f"*{shards.MARKER_SUFFIX}")) if shards_dir.is_dir() else []:
            if not (shards_dir / atomic.read_json(marker_path)["shard"]).exists():
                report.problems.append(Problem(marker_path, "commit marker without its shard", [marker_path]))
        for leftover in shards.uncommitted_files(shards_dir):
            report.problems.append(Problem(leftover, "uncommitted shard (a killed run's)", [leftover]))
        run_path = runs.latest_run(layout.runs_dir(config.config_id))
        if run_path is not None:
            try:
                index = runs.read_run(run_path)
            except (OSError, KeyError, ValueError) as error:
                report.problems.append(Problem(run_path, f"unreadable run index: {error}", [run_path]))
                continue
            missing = [p for p, h, r in zip(index.paths, index.hashes, index.reasons) if not r and h not in present]
            if missing:
                report.problems.append(Problem(
                    run_path, f"{len(missing)} indexed images have no features (e.g. {missing[0]}); "
                              f"`extract run` again re-extracts them"))
    if repair:
        by_config: dict[str, list[Path]] = {}
        for problem in report.problems:
            config_id = problem.path.relative_to(layout.configs_dir).parts[0]
            by_config.setdefault(config_id, []).extend(problem.removable)
        for config_id, paths in by_config.items():
            # Exclusive, like a full run: no writer may have a shard in flight while we delete.
            with writer_lock(layout.lock_file(config_id)):
                for path in paths:
                    path.unlink(missing_ok=True)
                    report.repaired.append(path)
    return report
