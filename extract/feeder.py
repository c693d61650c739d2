"""Keeps the base busy: images prepared in decode worker processes, batches handed over a bounded queue.

Decode workers are separate processes (spawned fresh: they import NumPy and Pillow, never TensorFlow),
so decoding and resizing do not share the interpreter lock with the runtime running the base. A
feeder thread collects their results in file order into batches and puts them on a queue of
`PREFETCH` batches: the base takes the next batch as soon as it is done with one, and waits only
when the input cannot keep up (the `wait` stage of extract.stages). With 0 workers the feeder
thread prepares the images itself (Pillow and NumPy release the lock for most of the work).
A worker that dies (killed, out of memory) ends the run with one line; the shards committed before
it stay, so the next run resumes.
"""
from __future__ import annotations

import collections
import os
import queue
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

import numpy as np
from joblib.externals.loky import ProcessPoolExecutor

from extract.errors import ExtractError, OptionError
from extract.prepare import Prepared, prepare_chunk
from extract.stages import StageTimes

PREFETCH = 2  # ready batches waiting for the base: enough to hide a slow file, little memory
_DONE = object()

Batch = tuple[np.ndarray, np.ndarray, list[str], list[str]]  # images, positions, content hashes, reasons


class DecodeWorkerError(ExtractError):
    """A decode worker process died; what was committed before stays."""


def available_cores() -> int:
    """The cores this process may use (its affinity, which Ray's --cpus-per-worker narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_decode_workers(cores: int | None = None, base_on_gpu: bool = False) -> int:
    """Decode worker processes for a run on `cores` cores (0: the feeder thread decodes).

    On a CPU the base needs the cores: one worker per four cores, none below four (on this project's
    2-core machine decoding on the feeder thread beat one worker process, which costs a second to
    start and copies every image once more: bench/README.md). When a GPU runs the base, decoding is
    the bound: every core but one decodes.
    """
    cores = cores or available_cores()
    return max(1, cores - 1) if base_on_gpu else cores // 4


def check_decode_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise OptionError(f"--decode-workers is a count of processes, 0 (decode in this process) or more. "
                           f"Received: {workers!r}")


def _chunks(paths: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(paths), size):
        yield start, paths[start:start + size]


def _prepared(paths: list[str], size: int, resize: str, batch_size: int, workers: int,
              times: StageTimes, stop: threading.Event) -> Iterator[tuple[int, list[Prepared]]]:
    """(first position, prepared images) of each chunk, in file order."""
    chunk = max(1, min(8, batch_size // max(1, workers)))
    if workers == 0:
        for start, part in _chunks(paths, chunk):
            if stop.is_set():
                return
            prepared, seconds = prepare_chunk(part, size, resize)
            times.add_all(seconds)
            yield start, prepared
        return
    in_flight = max(2 * workers, (PREFETCH * batch_size) // chunk)  # bounded: memory stays small
    # loky's executor (joblib's, a scikit-learn dependency): spawned workers that, unlike the standard
    # library's, never re-run the caller's main script, so a script without a __main__ guard works.
    pool = ProcessPoolExecutor(workers, env={"OMP_NUM_THREADS": "1"})
    pending: collections.deque = collections.deque()
    try:
        for start, part in _chunks(paths, chunk):
            pending.append((start, pool.submit(prepare_chunk, part, size, resize)))
            while len(pending) >= in_flight and not stop.is_set():
                yield _collect(*pending.popleft(), times)
            if stop.is_set():
                return
        while pending and not stop.is_set():
            yield _collect(*pending.popleft(), times)
    except BrokenProcessPool:  # from submit() or result(): the pool lost a process
        raise DecodeWorkerError(
            f"A decode worker process died (killed, or out of memory) while preparing images; the shards "
            f"committed so far are kept and a rerun resumes. Received: --decode-workers {workers}") from None
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _collect(start: int, future, times: StageTimes) -> tuple[int, list[Prepared]]:
    prepared, seconds = future.result()
    times.add_all(seconds)
    return start, prepared


def _batches(paths: list[str], size: int, resize: str, batch_size: int, workers: int, times: StageTimes,
             stop: threading.Event) -> Iterator[Batch]:
    images = np.zeros((0, size, size, 3), np.float32)
    hashes: list[str] = []
    reasons: list[str] = []
    first = 0
    for start, prepared in _prepared(paths, size, resize, batch_size, workers, times, stop):
        for offset, (image, digest, reason) in enumerate(prepared):
            if not hashes and not reasons:
                images, first = np.zeros((min(batch_size, len(paths) - start - offset), size, size, 3),
                                         np.float32), start + offset
            row = len(hashes)
            if image is not None:
                images[row] = image
            hashes.append(digest)
            reasons.append(reason)
            if len(hashes) == len(images):
                yield images, np.arange(first, first + len(hashes), dtype=np.int64), hashes, reasons
                hashes, reasons = [], []


def feed_batches(paths: list[str], size: int, resize: str, batch_size: int, workers: int,
                 times: StageTimes | None = None) -> Iterator[Batch]:
    """Yields (images float32 [B,size,size,3] in 0..255, positions, content hashes, reasons), in order.

    Parameters
    ----------
    paths : list of str
        The image files; a file that cannot be used gives a zero image and its reason.
    size, resize : int, str
        The configuration's input size and resize mode.
    batch_size : int
        Images per batch (the last one may be smaller).
    workers : int
        Decode worker processes; 0 prepares the images on the feeder thread in this process.
    times : StageTimes, optional
        Where the read, decode, resize and wait seconds are added.
    """
    check_decode_workers(workers)
    times = times if times is not None else StageTimes()
    ready: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for batch in _batches(paths, size, resize, batch_size, workers, times, stop):
                put(batch)
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    feeder = threading.Thread(target=produce, name="decode-feeder", daemon=True)
    feeder.start()
    try:
        while True:
            started = time.perf_counter()
            item = ready.get()
            times.add("wait", time.perf_counter() - started)
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        feeder.join()
