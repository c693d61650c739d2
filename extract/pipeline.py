"""The tf.data input pipeline: read + decode (parallel) -> resize -> batch -> prefetch.

It runs ahead of the model on its own threads, so decoding overlaps inference.
A file that fails to decode still flows through as a placeholder with its reason,
so the writer records it and the positions of the other images never shift.
"""
from __future__ import annotations

import os

import numpy as np

from extract.augment import apply_view, view_parameters
from extract.decode import read_and_decode
from extract.model import resizing_layer


def _loader(augment: dict | None):
    def load(path: bytes):
        image, digest, reason = read_and_decode(path.decode())
        if image is None:
            image = np.zeros((1, 1, 3), np.uint8)
        params = view_parameters(augment, digest) if augment and digest else np.zeros(5, np.float32)
        return image, digest.encode(), reason.encode(), params
    return load


def default_decode_threads() -> int | None:
    """Threads for decoding: all of them (tf.data's default) when a GPU runs the model; on a CPU
    the model needs the cores, and a full tf.data thread pool beside it slowed VGG16 from 11 to
    7 images/s on 2 cores (bench/bench_extract.py), while one decoding thread keeps up with it."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    return max(1, (os.cpu_count() or 1) // 4)


def image_batches(paths: list[str], size: int, resize: str, batch_size: int, augment: dict | None = None,
                  decode_threads: int | None = -1):
    """Yields (images float32 [B,size,size,3] in 0..255, positions, content hashes, reasons).
    With `augment` (a view of extract.augment), each image is that view of itself.
    `decode_threads`: -1 for the default above, None for tf.data's own choice, or a count."""
    import tensorflow as tf

    resizer = resizing_layer(size, resize)
    read = _loader(augment)

    def load(position, path):
        image, digest, reason, params = tf.numpy_function(
            read, [path], [tf.uint8, tf.string, tf.string, tf.float32])
        image.set_shape([None, None, 3])
        resized = resizer(tf.cast(image, tf.float32))
        resized.set_shape([size, size, 3])
        if augment:
            resized = apply_view(resized, params, size)
        return resized, position, digest, reason

    positions = np.arange(len(paths), dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((positions, tf.constant(paths, dtype=tf.string)))
    options = tf.data.Options()
    options.deterministic = True
    threads = default_decode_threads() if decode_threads == -1 else decode_threads
    if threads:
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
    return (
        dataset.with_options(options)
        .map(load, num_parallel_calls=threads or tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(2)
    )
