"""`extract run` as a Python function: scan, plan what is not cached, extract it, record the run."""
from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from extract import devices
from extract.dataset_plan import change_note, checked_data, read_rules, record_versions, scan_of
from extract.engines import get_engine
from extract.engines.progress import WorkerMeter
from extract.errors import ExtractError, OptionError
from extract.extractor import Extractor
from extract.memory import refused_when_out_of_memory
from extract.options import ExtractOptions, RunOptions
from extract.progress_bar import ExtractionBar, shows_progress
from extract.run_summary import RunSummary
from extract.runner import ShardTask, TaskResult, register_extractor
from extract.scan import Note, Scan
from extract.slices import Slice, listing_digest
from extract.stages import merge as merge_stages
from store.catalog import ShardCatalog
from store.config import ExtractorConfig, write_config
from store.datasets import DatasetIndex, check_dataset_name, write_dataset
from store.lock import slice_lock, writer_lock
from store.partials import write_partial
from store.reader import init_store
from store.runs import RunRecord, write_run_record
from store.shards import MARKER_SUFFIX, delete_uncommitted


class StrictModeError(ExtractError):
    def __init__(self, rejected: list[tuple[str, str]]):
        self.rejected = rejected
        listing = "; ".join(f"{path}: {reason}" for path, reason in rejected[:20])
        more = f" (and {len(rejected) - 20} more)" if len(rejected) > 20 else ""
        super().__init__(f"--strict: {len(rejected)} files cannot be used: {listing}{more}")


def _store_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def plan_tasks(store_root: str, config: ExtractorConfig, paths: list[str], batch_size: int,
               shard_size: int, xla: bool, single: bool, runtime: str = "tensorflow",
               decode_workers: int | None = None) -> list[ShardTask]:
    """Cut the work into shard tasks: one task here (one pipeline, no gaps between shards),
    or tasks of one shard each for an engine that spreads them over workers."""
    if not paths:
        return []
    step = len(paths) if single else shard_size
    return [ShardTask(store_root, config, tuple(paths[i:i + step]), batch_size, shard_size, xla, runtime=runtime,
                      decode_workers=decode_workers) for i in range(0, len(paths), step)]


def as_extractor(extractor: ExtractOptions | ExtractorConfig | Extractor, xla: bool | None = None) -> Extractor:
    """Options are checked and resolved; a configuration is taken as it is (its weights checked)."""
    if isinstance(extractor, Extractor):
        return extractor
    if isinstance(extractor, ExtractOptions):
        return Extractor.from_options(extractor, xla)
    if isinstance(extractor, ExtractorConfig):
        return Extractor.from_config(extractor, xla)
    raise TypeError(f"extractor is ExtractOptions, ExtractorConfig or Extractor. Received: {type(extractor).__name__}")


def _build_for_work(extractor: Extractor, engine: str, runtime: str | None = None) -> None:
    """Build (and check) the model before work that needs it; mixed precision only on a GPU here (the GPU
    of the backend that runs `runtime`)."""
    if engine == "local":
        devices.check_compute_device(extractor.config.compute, runtime)
    extractor.build()


def _ready_runtime(extractor: Extractor, store: Path, requested: str, paths: list[str]) -> tuple[str, Note | None]:
    """Choose the runtime and load it here, on the driver, before any task (extract.runtimes.choice): a
    conversion is made and checked on a few of the run's images once, and `auto` falls back in one note."""
    from extract.runtimes.choice import ready_runtime

    name, fallback = ready_runtime(extractor, store, requested, paths)
    return name, Note("runtime-fallback", 1, fallback) if fallback else None


def run_extraction(
    data: str | Path | DatasetIndex | None, store: str | Path,
    extractor: ExtractOptions | ExtractorConfig | Extractor, options: RunOptions | None = None,
    on_start: Callable[[int], None] | None = None, on_progress: Callable[[int], None] | None = None,
    on_worker_progress: Callable[[str, int], None] | None = None, progress: bool | None = None,
) -> RunSummary:
    """Extract what is not cached of `data` (a data folder, or a DatasetIndex of the store: its files as
    indexed, or None: the folder of dataset `options.data.name` as the store recorded it) into `store`,
    for one configuration.

    How the folder is read (labels from folders, a table or file names; splits; the dataset's name) is
    `options.data` (DataOptions); when None, as the store recorded it for the dataset of that name (so
    another backbone gets exactly the same rows), else the defaults. See extract.dataset_plan.

    `extractor`: ExtractOptions (checked and resolved), an ExtractorConfig (exactly that
    configuration, e.g. from a store or a head) or an Extractor. `options` (RunOptions) say how:
    `shard="i/n"` does one deterministic slice (see extract.slices), `engine="ray"` spreads the
    shard tasks over Ray workers, `splits` limits the run (and its index) to those splits. A run
    with nothing to extract imports no TensorFlow (the feature shape comes from the store's record).

    Parameters
    ----------
    data : str, Path, DatasetIndex or None
        The data folder, a dataset index of the store, or None (see above).
    store : str or Path
        The feature store (made on first use).
    extractor : ExtractOptions, ExtractorConfig or Extractor
        The configuration to extract (see above).
    options : RunOptions, optional
        How to run (engine, shard, splits, batch size, strictness...); default RunOptions().
    on_start : callable(int), optional
        Called once with the number of images to extract.
    on_progress : callable(int), optional
        Called with the number of images done, batch by batch.
    on_worker_progress : callable(str, int), optional
        The same per worker (worker name, images).
    progress : bool, optional
        A progress bar on stderr (tqdm.auto: a widget in a notebook). By default shown in a notebook or
        a terminal unless the caller follows progress itself (`on_start` or `on_progress` given);
        False: none; True: always.

    Returns
    -------
    RunSummary
        Images found, extracted and already cached, files rejected (path, reason), images per split,
        seconds, the configuration (`config`) and the dataset's name.

    Raises
    ------
    ExtractError
        Bad options, a data folder that cannot be read, weights that do not fit (one line says why).
    """
    started = time.perf_counter()
    options = options or RunOptions()
    part = Slice.parse(options.shard) if options.shard is not None else None
    # An unknown or missing engine, or a bad engine option, is refused before anything is read.
    dispatcher = get_engine(options.engine, **options.engine_options())
    plan = checked_data(data, store, options)  # the folder and its options first: no download for a typo
    extractor = as_extractor(extractor, options.xla)
    if extractor.config.compute != "float32" and options.engine != "local" and not options.gpus_per_worker \
            and os.environ.get(devices.ALLOW_CPU_MIXED_ENV) != "1":
        raise OptionError(f"--mixed-precision computes on GPUs: give the workers one (--gpus-per-worker). "
                          f"Received: --engine {options.engine} --gpus-per-worker {options.gpus_per_worker}")
    scan = scan_of(data if plan is None else plan, read_rules(plan, store, options.max_image_mb, options.rehash))
    splits = options.splits
    if splits is not None and not set(splits) & {e.split for e in scan.entries}:
        known = ", ".join(sorted({e.split for e in scan.entries}))
        raise OptionError(f"No split among {', '.join(splits)} in the data. Known: {known}")
    mine = [e for e in scan.entries  # chosen before any hash is updated
            if (part is None or part.holds(e)) and (splits is None or e.split in splits)]
    if options.strict and any(e.reason for e in mine):
        raise StrictModeError([(e.path, e.reason) for e in mine if e.reason])
    # Before anything is written: a configuration the store has never recorded is built now, so a
    # bad layer or a weights file that does not fit is refused with the store untouched.
    if not extractor.with_store_record(store):
        _build_for_work(extractor, options.engine, options.runtime)

    bar = None
    if progress or (progress is None and on_start is None and on_progress is None and shows_progress(None)):
        bar = ExtractionBar(f"extracting {extractor.config.backbone}", on_start, on_progress)
        on_start, on_progress = bar.on_start, bar.on_progress
    dispatcher.open()  # starts or joins a cluster; refuses what it cannot provide before anything is written
    try:
        with refused_when_out_of_memory(Path(store), extractor.config.config_id, extractor.config.size,
                                        options.batch_size):
            summary, store_layout = _extract(scan, mine, part, extractor, Path(store), dispatcher, options,
                                             started, on_start, WorkerMeter(on_progress, on_worker_progress),
                                             plan.previous if plan is not None else None)
    finally:
        dispatcher.close()
        if bar is not None:
            bar.close()
    summary.store_bytes = _store_bytes(store_layout.root)
    summary.preprocess_from, summary.weights_note = extractor.weights.preprocess_from, extractor.weights.note
    return summary


def _extract(scan: Scan, mine: list, part: Slice | None, extractor: Extractor, store: Path, dispatcher,
             options: RunOptions, started: float, on_start, meter: WorkerMeter, previous: DatasetIndex | None):
    config = extractor.config
    strict = options.strict
    dataset_name = check_dataset_name(scan.name or scan.root.name)  # refused before anything is written
    store_layout = init_store(store)
    lock = store_layout.lock_file(config.config_id)
    # Only an exclusive holder deletes uncommitted leftovers: a slice's neighbours may have a shard in flight.
    with writer_lock(lock) if part is None else slice_lock(lock, part.index, part.count):
        write_config(store_layout, config)
        record_versions(store_layout, dataset_name, scan)
        if part is None:
            _delete_leftovers(store_layout, config)
        # Cached rows are trusted without being read: every shard's sha256 is checked (once per process),
        # and a damaged one is dropped (under the exclusive lock) so that its images are extracted again.
        catalog = ShardCatalog.load(store_layout.shards_dir(config.config_id), update_index=True, deep=True,
                                    drop_damaged=True)
        damaged_note = _drop_damaged(catalog, exclusive=part is None)

        usable = [e for e in mine if not e.reason]
        known = catalog.known(np.array([e.hash for e in usable], dtype="S64"))  # in bulk: no object per stored image
        cached = int(known.sum())
        todo: dict[str, str] = {}  # content hash -> one absolute path holding it
        for position in np.flatnonzero(~known):
            entry = usable[position]
            if entry.hash not in todo:
                todo[entry.hash] = str(scan.root / entry.path)
        runtime, runtime_note = options.runtime, None
        if todo:  # only now, and only then, is the model needed (a rerun imports no TensorFlow)
            _build_for_work(extractor, dispatcher.name, options.runtime)
            if config.quantize:  # its calibration images: the dataset's train split (extract.runtimes.int8)
                from extract.runtimes.int8 import calibration_sample

                extractor.calibration = calibration_sample(
                    [(str(scan.root / e.path), e.hash) for e in scan.entries if e.split == "train" and not e.reason])
            runtime, runtime_note = _ready_runtime(extractor, store_layout.root, options.runtime, list(todo.values()))
            if dispatcher.name == "local":
                register_extractor(extractor)
        tasks = plan_tasks(str(store_layout.root), config, list(todo.values()),
                           options.batch_size, options.shard_size, extractor.xla, dispatcher.name == "local",
                           runtime, options.decode_workers)
        if on_start:
            on_start(len(todo))
        extract_started = time.perf_counter()
        results = dispatcher.run(tasks, {p: h for h, p in todo.items()}, meter)
        if part is None:
            _delete_leftovers(store_layout, config)  # a dead worker's temporary file or unmarked shard
        result = TaskResult(
            extracted=sum(r.extracted for r in results),
            rejected=[item for r in results for item in r.rejected],
            changed=[item for r in results for item in r.changed],
            shards=[name for r in results for name in r.shards],
            seconds=time.perf_counter() - extract_started,
        )

        changed = {path: digest for path, digest in result.changed}
        failed = dict(result.rejected)  # absolute path -> reason, for what this run tried
        if tasks:  # what was committed since; with nothing to do the catalog is the same
            del catalog  # one catalog in memory at a time
            catalog = ShardCatalog.load(store_layout.shards_dir(config.config_id), update_index=True)
        entries = mine
        for entry in entries if changed or failed else ():  # a rerun with nothing to do builds no path
            absolute = str(scan.root / entry.path)
            entry.hash = changed.get(absolute, entry.hash)
            if not entry.reason and absolute in failed and entry.hash not in catalog:
                entry.reason = failed[absolute]  # unreadable at decode time: no content to key it on
        rejected = [(e.path, e.reason or catalog.rejected[e.hash]) for e in entries
                    if e.reason or e.hash in catalog.rejected]
        if strict and rejected:
            raise StrictModeError(rejected)
        duplicates = _duplicates_note(store_layout, config, dataset_name, scan) if part is None else None
        summary = RunSummary(
            config=config, images=len(usable), extracted=result.extracted,
            cached=cached, rejected=rejected, changed=len(changed),
            skipped_hidden=scan.skipped_hidden, skipped_non_image=scan.skipped_non_image,
            seconds=time.perf_counter() - started, extract_seconds=result.seconds,
            split_counts=dict(sorted(Counter(e.split for e in entries if not e.reason).items())), engine=dispatcher.describe(),
            workers=meter.summary() if dispatcher.name != "local" else {}, slice=str(part) if part else None,
            devices={r.worker: r.device for r in results if r.device}, dataset=dataset_name,
            runtimes={r.worker: r.runtime for r in results if r.runtime},
            files_read=scan.reading.read if scan.reading else 0, files_known=scan.reading.known if scan.reading else 0,
            notes=list(scan.notes) + ([duplicates] if duplicates else []) + ([runtime_note] if runtime_note else [])
            + ([damaged_note] if damaged_note else []),
            stages=merge_stages([r.stages for r in results if r.stages]),
            input_path=", ".join(sorted({r.input_path for r in results if r.input_path})),
        )
        stats = {"extracted": summary.extracted, "cached": summary.cached, "rejected": len(rejected),
                 "changed": summary.changed, "skipped_hidden": summary.skipped_hidden,
                 "skipped_non_image": summary.skipped_non_image, "seconds": round(summary.seconds, 3),
                 "layout": scan.layout, "engine": dispatcher.name, "compute": config.compute,
                 "devices": summary.devices, "files_read": summary.files_read, "files_known": summary.files_known,
                 "runtime": runtime if todo else None, "stages": summary.stages or None,
                 "input_path": summary.input_path or None, "runtimes": summary.runtimes,
                 # how a runtime other than TensorFlow was checked against it (onnx: agreement; keras_backend: checked)
                 "runtime_check": (getattr(extractor._infer, "agreement", None)
                                   or getattr(extractor._infer, "checked", None)) if todo else None}
        if part is None:  # the whole scan describes the dataset, even when the run extracted some splits
            index = _dataset_rows(dataset_name, scan, scan.entries)
            if not scan.source.get("indexed"):  # a dataset given as its index stays as it was
                write_dataset(store_layout, index)
                summary.dataset_note = change_note(previous, index)
            covered = None if len(mine) == len(scan.entries) else sorted({e.split for e in mine})
            write_run_record(store_layout, RunRecord(config.config_id, dataset_name, index.digest(), stats,
                                                     engine=dispatcher.name, splits=covered,
                                                     devices=sorted(set(summary.devices.values()))))
        else:  # the slice's rows only: `extract merge` combines a complete set into the dataset index
            position = {id(e): i for i, e in enumerate(scan.entries)}
            write_partial(store_layout, config.config_id, part.index, part.count,
                          _dataset_rows(dataset_name, scan, mine), [position[id(e)] for e in mine],
                          len(scan.entries), listing_digest(scan), stats)
    return summary, store_layout


def _dataset_rows(name: str, scan: Scan, entries: list) -> DatasetIndex:
    return DatasetIndex(
        name=name, data_root=str(scan.root), classes=scan.classes, paths=[e.path for e in entries],
        labels=[e.label for e in entries], splits=[e.split for e in entries], hashes=[e.hash for e in entries],
        reasons=[e.reason for e in entries],
        split_sources=[e.split_source for e in entries], source=scan.source or {"layout": scan.layout},
        stats={"layout": scan.layout, "skipped_hidden": scan.skipped_hidden,
               "skipped_non_image": scan.skipped_non_image, "notes": [note.to_dict() for note in scan.notes]})


def _drop_damaged(catalog: ShardCatalog, exclusive: bool) -> Note | None:
    """Delete the damaged shards (marker first: a shard without its marker is not part of the store)
    when this run holds the exclusive writer lock; a slice only leaves their rows uncached."""
    if not catalog.damaged:
        return None
    if exclusive:
        for path, _ in catalog.damaged:
            path.with_name(path.name.replace(".h5", MARKER_SUFFIX)).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
    first = catalog.damaged[0][1]
    return Note("damaged_shards", len(catalog.damaged),
                f"{len(catalog.damaged)} damaged shard(s) {'dropped' if exclusive else 'left out'} and their "
                f"images extracted again; first: {first}", tuple(str(p) for p, _ in catalog.damaged[:3]))


def _duplicates_note(layout, config: ExtractorConfig, name: str, scan: Scan) -> Note | None:
    """Leaks between splits, and the data option group_duplicates applied (extract.duplicate_check)."""
    from extract.duplicate_check import check_duplicates  # scikit-learn and scipy: imported only when used

    group = bool((scan.source.get("options") or {}).get("group_duplicates"))
    return check_duplicates(layout, config, _dataset_rows(name, scan, scan.entries), scan.entries, group)


def _delete_leftovers(layout, config: ExtractorConfig) -> None:
    delete_uncommitted(layout.shards_dir(config.config_id))  # a killed writer's shard in flight: never committed
