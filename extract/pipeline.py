"""The tf.data input pipeline: read + decode (parallel) -> resize -> batch -> prefetch.

It runs ahead of the model on its own threads, so decoding overlaps inference.
A file that fails to decode still flows through as a placeholder with its reason,
so the writer records it and the positions of the other images never shift.
"""
from __future__ import annotations

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


def image_batches(paths: list[str], size: int, resize: str, batch_size: int, augment: dict | None = None):
    """Yields (images float32 [B,size,size,3] in 0..255, positions, content hashes, reasons).
    With `augment` (a view of extract.augment), each image is that view of itself."""
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
    return (
        dataset.with_options(options)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(2)
    )
