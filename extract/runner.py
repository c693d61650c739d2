"""The unit of work: one shard task (a picklable list of files for one configuration).

A worker builds the model itself (once per process), streams the files through the
input pipeline and the base, and commits shards. The local engine runs the tasks in
this process; a distributed engine only dispatches the same tasks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from extract.backbones import get_backbone
from extract.configure import use_mixed_precision_on_gpu
from extract.model import build_base, build_feature_model
from extract.pipeline import image_batches
from extract.weights import ResolvedWeights
from extract.writer import ShardWriter
from store.config import ExtractorConfig
from store.layout import StoreLayout

_MODELS: dict[str, Callable] = {}  # config id -> compiled inference function, per process


@dataclass(frozen=True)
class ShardTask:
    store_root: str
    config: ExtractorConfig
    weights: ResolvedWeights
    paths: tuple[str, ...]  # absolute paths of images not yet in the store
    batch_size: int
    shard_size: int
    xla: bool
    decode_threads: int | None = -1  # extract.pipeline's default: a quarter of the cores on a CPU


@dataclass
class TaskResult:
    extracted: int = 0
    rejected: list[tuple[str, str]] | None = None  # (path, reason)
    changed: list[tuple[str, str]] | None = None  # (path, hash actually read) when changed since the scan
    shards: list[str] | None = None
    seconds: float = 0.0


def compile_inference(model, xla: bool):
    import tensorflow as tf

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def infer(images):
        return tf.cast(model(images, training=False), tf.float32)

    return infer


def register_model(config: ExtractorConfig, model, xla: bool) -> None:
    """Reuse a model the driver already built (the local engine) instead of building it again."""
    _MODELS[config.config_id] = compile_inference(model, xla)


def inference_function(config: ExtractorConfig, weights: ResolvedWeights, xla: bool):
    """A compiled `images -> features` function for a configuration, built once per process."""
    if config.config_id not in _MODELS:
        use_mixed_precision_on_gpu()
        backbone = get_backbone(config.backbone)
        base, _ = build_base(backbone, config.size, weights)
        model = build_feature_model(backbone, base, config.preprocess, config.layer, config.pool)
        register_model(config, model, xla)
    return _MODELS[config.config_id]


def run_task(task: ShardTask, expected_hashes: dict[str, str] | None = None,
             on_progress: Callable[[int], None] | None = None) -> TaskResult:
    started = time.perf_counter()
    config = task.config
    infer = inference_function(config, task.weights, task.xla)
    layout = StoreLayout(Path(task.store_root))
    writer = ShardWriter(layout.shards_dir(config.config_id), config.config_id, config.dtype,
                         config.feature_shape, task.shard_size)
    result = TaskResult(rejected=[], changed=[])
    try:
        for images, positions, hashes, reasons in image_batches(
                list(task.paths), config.size, config.resize, task.batch_size, config.augment,
                task.decode_threads):
            count = int(images.shape[0])
            if count < task.batch_size:  # pad the last batch: one compiled shape, no recompilation
                images = np.concatenate([images, np.zeros((task.batch_size - count, *images.shape[1:]),
                                                          np.float32)])
            features = infer(images).numpy()[:count]
            for row, position in enumerate(positions.numpy()):
                path = task.paths[position]
                digest, reason = hashes[row].numpy().decode(), reasons[row].numpy().decode()
                if expected_hashes is not None and digest and expected_hashes.get(path) != digest:
                    result.changed.append((path, digest))  # keyed by the content actually read
                if reason:
                    writer.reject(digest, reason)
                    result.rejected.append((path, reason))
                else:
                    writer.add(digest, features[row])
                    result.extracted += 1
            if on_progress:
                on_progress(count)
    finally:
        writer.close()
    result.shards = writer.shards
    result.seconds = time.perf_counter() - started
    return result
