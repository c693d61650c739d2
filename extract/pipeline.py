"""The input pipelines: image files -> batches of model inputs, ahead of the base.

Two paths give the same numbers (the resize within 1e-4 of each other on 0..255 pixels):
- tf.data (`image_batches`): read + decode (parallel) -> TensorFlow resize -> batch -> prefetch, on
  TensorFlow's threads; the TensorFlow runtime's default (it overlaps well with TensorFlow's own base),
  and the only path of augmented views (their random transforms are TensorFlow ops);
- decode workers (extract.feeder): Pillow + the NumPy resize in worker processes, no TensorFlow; the
  path of every other runtime, and of any run given `--decode-workers`.
`input_batches` picks one and yields NumPy batches either way. A file that fails to decode still
flows through as a zero image with its reason, so the writer records it and no position shifts.
"""
from __future__ import annotations

import os

import numpy as np

import time
from typing import Iterator

from extract.augment import apply_view, view_parameters
from extract.decode import read_and_decode
from extract.feeder import Batch, default_decode_workers, feed_batches
from extract.model import resizing_layer
from extract.stages import StageTimes


def _loader(augment: dict | None, times: StageTimes | None = None):
    def load(path: bytes):
        seconds: dict[str, float] = {}
        image, digest, reason = read_and_decode(path.decode(), seconds)
        if times is not None:
            times.add_all(seconds)
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
                  decode_threads: int | None = -1, times: StageTimes | None = None):
    """Yields (images float32 [B,size,size,3] in 0..255, positions, content hashes, reasons).
    With `augment` (a view of extract.augment), each image is that view of itself.
    `decode_threads`: -1 for the default above, None for tf.data's own choice, or a count."""
    import tensorflow as tf

    resizer = resizing_layer(size, resize)
    read = _loader(augment, times)

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


def uses_decode_workers(runtime: str, augment: dict | None, decode_workers: int | None) -> bool:
    """Whether a run takes the decode-worker path (see the module docstring)."""
    if augment:
        return False
    return decode_workers is not None or runtime != "tensorflow"


def _need_tensorflow(runtime: str, augment: dict | None) -> None:
    """The tf.data path where TensorFlow is not installed: one line, before anything is read."""
    from extract import devices
    from extract.errors import OptionError

    if devices.tensorflow_installed():
        return
    if augment:
        raise OptionError(f"Augmented views are TensorFlow image ops, and TensorFlow is not installed here "
                          f"(Keras runs on {devices.keras_backend()}): extract the plain view, or run where "
                          f"TensorFlow is. Received: augment={augment}")
    raise OptionError(f"{devices.tensorflow_unavailable()}. Received: --runtime {runtime}")


def input_batches(paths: list[str], size: int, resize: str, batch_size: int, augment: dict | None = None,
                  runtime: str = "tensorflow", decode_workers: int | None = None,
                  times: StageTimes | None = None) -> Iterator[Batch]:
    """(images float32 [B,size,size,3] in 0..255, positions, content hashes, reasons) as NumPy, in order.

    Parameters
    ----------
    paths : list of str
        The image files.
    size, resize, augment
        The configuration's input size, resize mode and view.
    batch_size : int
        Images per batch.
    runtime : str
        The runtime that will run the base: TensorFlow's default input path is tf.data.
    decode_workers : int, optional
        Decode worker processes (0: in this process); None: tf.data for the TensorFlow runtime, else
        `extract.feeder.default_decode_workers()`.
    times : StageTimes, optional
        Where the input stages' seconds (and the base's waits) are added.
    """
    times = times if times is not None else StageTimes()
    if uses_decode_workers(runtime, augment, decode_workers):
        workers = default_decode_workers() if decode_workers is None else decode_workers
        yield from feed_batches(paths, size, resize, batch_size, workers, times)
        return
    _need_tensorflow(runtime, augment)
    times.separable["resize"] = False  # inside the tf.data graph: not timed on its own
    batches = iter(image_batches(paths, size, resize, batch_size, augment, times=times))
    while True:
        started = time.perf_counter()
        try:
            images, positions, digests, reasons = next(batches)
        except StopIteration:
            return
        finally:
            times.add("wait", time.perf_counter() - started)
        yield (images.numpy(), positions.numpy(), [d.decode() for d in digests.numpy()],
               [r.decode() for r in reasons.numpy()])
