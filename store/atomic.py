"""Crash-safe file writes: write under a temporary name, fsync, rename into place.

A reader therefore sees either the old file or the whole new one, never a torn
one, whatever moment the writer is killed at.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def temporary_name(final: Path) -> Path:
    """A hidden temporary name that says which process owns it (for cleanup)."""
    return final.with_name(f".{final.name}.{socket.gethostname()}.{os.getpid()}{TMP_SUFFIX}")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temporary_of(path: Path, final: Path) -> bool:
    """True for a temporary name of `final` (any process's)."""
    return path.name.startswith(f".{final.name}.") and path.name.endswith(TMP_SUFFIX)


def publish(tmp: Path, final: Path) -> None:
    """fsync a finished temporary file and rename it to its final name."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_bytes(final: Path, data: bytes) -> None:
    tmp = temporary_name(final)
    try:
        tmp.write_bytes(data)
        publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(final: Path, data: Any) -> None:
    write_bytes(final, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    """Plain JSON only: nothing in a store file can execute code when read."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def is_stale_temporary(path: Path) -> bool:
    """True for a temporary file left by a dead process on this host."""
    parts = path.name.rsplit(".", 3)
    if not path.name.startswith(".") or not path.name.endswith(TMP_SUFFIX) or len(parts) < 4:
        return False
    host, pid = parts[-3], parts[-2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
