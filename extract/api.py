"""`extract run` as a Python function: scan, plan what is not cached, extract it, record the run."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from extract.configure import OptionError, configure
from extract.engines import get_engine
from extract.runner import ShardTask, TaskResult, register_model
from extract.scan import Scan, scan_dataset
from store import atomic
from store.catalog import ShardCatalog
from store.config import ExtractorConfig
from store.lock import writer_lock
from store.reader import init_store
from store.runs import RunIndex, write_run
from store.shards import uncommitted_files


class StrictModeError(RuntimeError):
    def __init__(self, rejected: list[tuple[str, str]]):
        self.rejected = rejected
        listing = "; ".join(f"{path}: {reason}" for path, reason in rejected[:20])
        more = f" (and {len(rejected) - 20} more)" if len(rejected) > 20 else ""
        super().__init__(f"--strict: {len(rejected)} files cannot be used: {listing}{more}")


@dataclass
class RunSummary:
    config: ExtractorConfig
    images: int  # usable image files found by the scan
    extracted: int
    cached: int
    rejected: list[tuple[str, str]] = field(default_factory=list)
    changed: int = 0
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    seconds: float = 0.0  # the whole run: scan, model build, extraction, index
    extract_seconds: float = 0.0  # the images through the pipeline and the base
    store_bytes: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.extracted / self.extract_seconds if self.extract_seconds > 0 else 0.0


def _store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _record_config(layout, config: ExtractorConfig) -> None:
    config_file = layout.config_file(config.config_id)
    if not config_file.is_file():
        atomic.write_json(config_file, config.to_json())


def plan_tasks(store_root: str, config: ExtractorConfig, configured, paths: list[str], batch_size: int,
               shard_size: int, xla: bool, single: bool) -> list[ShardTask]:
    """Cut the work into shard tasks: one task here (one pipeline, no gaps between shards),
    or tasks of one shard each for an engine that spreads them over workers."""
    if not paths:
        return []
    step = len(paths) if single else shard_size
    return [ShardTask(store_root, config, configured.weights, tuple(paths[i:i + step]), batch_size, shard_size, xla)
            for i in range(0, len(paths), step)]


def run_extraction(
    data: str | Path, store: str | Path, backbone: str, weights: str = "imagenet",
    size: int | None = None, layer: str | None = None, pool: str = "none", dtype: str = "float16",
    batch_size: int = 32, preprocess: str | None = None, alpha: float | None = None,
    resize: str = "squash", val_fraction: float = 0.2, layout: str = "auto", strict: bool = False,
    shard_size: int = 256, xla: bool | None = None, engine: str = "local",
    on_start: Callable[[int], None] | None = None, on_progress: Callable[[int], None] | None = None,
) -> RunSummary:
    started = time.perf_counter()
    if batch_size < 1 or shard_size < 1:
        raise OptionError(f"batch_size and shard_size must be positive. Received: {batch_size}, {shard_size}")
    get_engine(engine)  # an unknown or missing engine is refused before anything is read
    scan: Scan = scan_dataset(data, val_fraction=val_fraction, layout=layout)
    if strict and any(e.reason for e in scan.entries):
        raise StrictModeError([(e.path, e.reason) for e in scan.entries if e.reason])
    configured = configure(backbone, weights, size, layer, pool, dtype, preprocess, alpha, resize)
    config = configured.config
    use_xla = configured.backbone.xla_on_cpu if xla is None else xla

    store_layout = init_store(Path(store))
    with writer_lock(store_layout.lock_file(config.config_id)):
        _record_config(store_layout, config)
        for leftover in uncommitted_files(store_layout.shards_dir(config.config_id)):
            leftover.unlink(missing_ok=True)  # a killed run's shard in flight: never committed
        catalog = ShardCatalog.load(store_layout.shards_dir(config.config_id))

        usable = scan.usable()
        cached = sum(entry.hash in catalog for entry in usable)
        todo: dict[str, str] = {}  # content hash -> one absolute path holding it
        for entry in usable:
            if entry.hash not in catalog and entry.hash not in todo:
                todo[entry.hash] = str(scan.root / entry.path)
        register_model(config, configured.model, use_xla)
        tasks = plan_tasks(str(store_layout.root), config, configured, list(todo.values()),
                           batch_size, shard_size, use_xla, engine == "local")
        if on_start:
            on_start(len(todo))
        extract_started = time.perf_counter()
        results = get_engine(engine).run(tasks, {p: h for h, p in todo.items()}, on_progress)
        result = TaskResult(
            extracted=sum(r.extracted for r in results),
            rejected=[item for r in results for item in r.rejected],
            changed=[item for r in results for item in r.changed],
            shards=[name for r in results for name in r.shards],
            seconds=time.perf_counter() - extract_started,
        )

        changed = {path: digest for path, digest in result.changed}
        failed = dict(result.rejected)  # absolute path -> reason, for what this run tried
        catalog = ShardCatalog.load(store_layout.shards_dir(config.config_id))
        entries = scan.entries
        for entry in entries:
            absolute = str(scan.root / entry.path)
            entry.hash = changed.get(absolute, entry.hash)
            if not entry.reason and absolute in failed and entry.hash not in catalog:
                entry.reason = failed[absolute]  # unreadable at decode time: no content to key it on
        rejected = [(e.path, e.reason or catalog.rejected[e.hash]) for e in entries
                    if e.reason or e.hash in catalog.rejected]
        if strict and rejected:
            raise StrictModeError(rejected)
        summary = RunSummary(
            config=config, images=len(usable), extracted=result.extracted,
            cached=cached, rejected=rejected, changed=len(changed),
            skipped_hidden=scan.skipped_hidden, skipped_non_image=scan.skipped_non_image,
            seconds=time.perf_counter() - started, extract_seconds=result.seconds, split_counts=scan.split_counts(),
        )
        write_run(store_layout.runs_dir(config.config_id), config.config_id, RunIndex(
            data_root=str(scan.root), classes=scan.classes,
            paths=[e.path for e in entries], labels=[e.label for e in entries],
            splits=[e.split for e in entries], hashes=[e.hash for e in entries],
            reasons=[e.reason for e in entries],
            stats={"extracted": summary.extracted, "cached": summary.cached, "rejected": len(rejected),
                   "changed": summary.changed, "skipped_hidden": summary.skipped_hidden,
                   "skipped_non_image": summary.skipped_non_image, "seconds": round(summary.seconds, 3),
                   "layout": scan.layout},
        ))
    summary.store_bytes = _store_bytes(store_layout.root)
    return summary
