"""Who may write a configuration: advisory locks the kernel releases when their holder dies.

A full run (or a merge) holds the writer lock exclusively: it is the only one allowed to
delete uncommitted leftovers, since nobody else can have a shard in flight. `--shard i/n`
slices write disjoint images, so they hold it shared (any number at once, but never beside a
full run) plus an exclusive lock of their own slice (two copies of one slice are refused).
"""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class StoreBusyError(RuntimeError):
    pass


def slice_lock_path(lock_path: Path, index: int, count: int) -> Path:
    return lock_path.with_name(f"{lock_path.stem}.slice-{index}-of-{count}.lock")


@contextmanager
def writer_lock(lock_path: Path, shared: bool = False) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "--shard slices"
            raise StoreBusyError(
                f"Another extract run is writing this configuration ({holder}); "
                f"wait for it to finish. Received lock: {lock_path}"
            ) from None
        if not shared:  # shared holders leave the note alone: it names the exclusive holder only
            _write_holder(handle)
        try:
            yield
        finally:
            if not shared:
                handle.truncate(0)
    finally:
        handle.close()


@contextmanager
def slice_lock(lock_path: Path, index: int, count: int) -> Iterator[None]:
    """The shared writer lock plus the exclusive lock of slice `index` of `count`."""
    path = slice_lock_path(lock_path, index, count)
    with writer_lock(lock_path, shared=True):
        handle = open(path, "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise StoreBusyError(
                    f"Slice {index}/{count} is already being written ({handle.read().strip() or 'unknown'}). "
                    f"Received lock: {path}"
                ) from None
            _write_holder(handle)
            yield
        finally:
            handle.close()


@contextmanager
def waiting_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive lock that waits its turn: for short store-wide steps (the version upgrade)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write_holder(handle) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()
