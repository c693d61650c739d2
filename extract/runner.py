"""The unit of work: one shard task (a picklable list of files for one configuration).

A worker builds the model itself (once per process) from the task's configuration, checking
on its own node that the weights it loads are the configuration's, streams the files through
the input pipeline and the base, and commits shards. The local engine runs the tasks in this
process; a distributed engine only dispatches the same tasks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from extract import devices
from extract.extractor import Extractor
from extract.pipeline import input_batches, uses_decode_workers
from extract.stages import StageTimes
from extract.writer import ShardWriter
from store.config import ExtractorConfig
from store.layout import StoreLayout

_EXTRACTORS: dict[tuple[str, str], Extractor] = {}  # (config id, runtime) -> built extractor, per process


@dataclass(frozen=True)
class ShardTask:
    store_root: str
    config: ExtractorConfig  # the worker resolves and checks the weights itself, from weights_source
    paths: tuple[str, ...]  # absolute paths of images not yet in the store
    batch_size: int
    shard_size: int
    xla: bool
    runtime: str = "tensorflow"  # what runs the base; a converted base is kept in (and read from) the store
    decode_workers: int | None = None  # decode processes (0: in process); None: extract.pipeline's choice


@dataclass
class TaskResult:
    extracted: int = 0
    rejected: list[tuple[str, str]] | None = None  # (path, reason)
    changed: list[tuple[str, str]] | None = None  # (path, hash actually read) when changed since the scan
    shards: list[str] | None = None
    seconds: float = 0.0
    device: str = ""  # where the task computed: "GPU:0 (name)" or "CPU"
    worker: str = ""  # the engine's label of the worker that ran it
    stages: dict | None = None  # seconds per stage (extract.stages): read, decode, resize, wait, base, write
    input_path: str = ""  # "tf.data" or "N decode workers"
    runtime: str = ""  # what computed its features (a converted base: which file, converted here or read)


def register_extractor(extractor: Extractor) -> None:
    """Reuse an extractor the driver already built and checked (the local engine)."""
    _EXTRACTORS[extractor.config.config_id, extractor.runtime] = extractor.build()


def forget_extractors() -> None:
    """Drop this process's built extractors (the next task builds and checks its own again)."""
    _EXTRACTORS.clear()


def worker_extractor(config: ExtractorConfig, xla: bool, runtime: str = "tensorflow",
                     store: str | None = None) -> Extractor:
    """The built extractor of a configuration in this process: weights hashed and checked here (and
    a converted base checked against TensorFlow before its first batch)."""
    key = (config.config_id, runtime)
    if key not in _EXTRACTORS:
        extractor = Extractor.from_config(config, xla, runtime)
        extractor.runtime_store = Path(store) if store else None
        _EXTRACTORS[key] = extractor.build()
    return _EXTRACTORS[key]


def _finite_reason(features: np.ndarray, compute: str) -> str:
    """Why a row of features cannot be stored ("" when it can): a float16 overflow gives inf/nan."""
    if np.isfinite(features).all():
        return ""
    nan, inf = int(np.isnan(features).sum()), int(np.isinf(features).sum())
    return (f"features not finite ({inf} inf, {nan} nan values) computed in {compute}: refused, not stored"
            + (" (float32 compute avoids the float16 overflow: drop --mixed-precision)" if compute != "float32" else ""))


def run_task(task: ShardTask, expected_hashes: dict[str, str] | None = None,
             on_progress: Callable[[int], None] | None = None) -> TaskResult:
    started = time.perf_counter()
    devices.prepare_tensorflow()
    devices.check_compute_device(task.config.compute, task.runtime)
    extractor = worker_extractor(task.config, task.xla, task.runtime, task.store_root)
    config = extractor.config
    layout = StoreLayout(Path(task.store_root))
    times = StageTimes()
    writer = ShardWriter(layout.shards_dir(config.config_id), config.config_id, config.dtype,
                         config.feature_shape, task.shard_size, times)
    # where the base computes: a runtime in a child process (Keras on JAX, PyTorch) says its own device
    device = getattr(extractor.infer, "device", None) or devices.device_label()
    workers = decode_workers_for(task, device)
    result = TaskResult(rejected=[], changed=[], device=device, input_path=input_path_label(task, workers))
    try:
        with devices.exact_float32(config.compute):
            for images, positions, hashes, reasons in input_batches(
                    list(task.paths), config.size, config.resize, task.batch_size, config.augment,
                    task.runtime, workers, times):
                count = int(images.shape[0])
                if count < task.batch_size:  # pad the last batch: one compiled shape, no recompilation
                    images = np.concatenate([images, np.zeros((task.batch_size - count, *images.shape[1:]),
                                                              np.float32)])
                with times.timing("base"):
                    features = np.asarray(extractor.infer(images), np.float32)[:count]
                for row, position in enumerate(positions):
                    path = task.paths[position]
                    digest, reason = hashes[row], reasons[row]
                    if expected_hashes is not None and digest and expected_hashes.get(path) != digest:
                        result.changed.append((path, digest))  # keyed by the content actually read
                    reason = reason or _finite_reason(features[row], config.compute)
                    if reason:
                        writer.reject(digest, reason)
                        result.rejected.append((path, reason))
                    else:
                        writer.add(digest, features[row], path)
                        result.extracted += 1
                if on_progress:
                    on_progress(count)
                if not result.runtime:
                    describe = getattr(extractor.infer, "describe", None)
                    result.runtime = describe() if describe else task.runtime
    finally:
        writer.close()
    result.shards = writer.shards
    result.seconds = time.perf_counter() - started
    result.stages = times.to_record()
    return result


def decode_workers_for(task: ShardTask, device: str) -> int | None:
    """The task's decode workers: as asked, else, where a runtime other than TensorFlow's tf.data path
    runs the base on a GPU, every core but one (decoding is then the bound: extract.feeder), else None
    (extract.pipeline's choice)."""
    if task.decode_workers is not None or not device.startswith("GPU"):
        return task.decode_workers
    if not uses_decode_workers(task.runtime, task.config.augment, None):
        return None
    from extract.feeder import default_decode_workers

    return default_decode_workers(base_on_gpu=True)


def input_path_label(task: ShardTask, decode_workers: int | None = None) -> str:
    """How a task's images are prepared, for the run record: "tf.data" or "N decode workers"."""
    decode_workers = task.decode_workers if decode_workers is None else decode_workers
    if not uses_decode_workers(task.runtime, task.config.augment, decode_workers):
        return "tf.data"
    from extract.feeder import default_decode_workers

    workers = default_decode_workers() if decode_workers is None else decode_workers
    return "decode in process" if workers == 0 else f"{workers} decode worker{'s' if workers > 1 else ''}"
