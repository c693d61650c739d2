"""Staged writes: every file the store (and heads) writes goes through here.

A file is built under a hidden temporary name beside its final name, fsynced, renamed
into place and its folder fsynced, so a reader sees the old file or the whole new one,
never a torn one, whatever moment the writer is killed at.

A temporary's name says who owns it: `.<final>.<pid>.<token>.<host in hex>.tmp`. The host
is hex-encoded so that the name parses from the right whatever the host name holds (a dotted
`node1.cluster.local` made the old `.<final>.<host>.<pid>.tmp` names unparseable). A
temporary of a dead process of this host is stale: the next writer in that folder deletes
it. Another host's temporary cannot be judged from here: it is reported, never deleted.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

TMP_SUFFIX = ".tmp"
_STAGED = re.compile(r"^\.(?P<final>.+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})\.(?P<host>(?:[0-9a-f]{2})*)\.tmp"
                     r"(?P<ext>\.[A-Za-z0-9]{1,16})?$")


class StagingError(OSError):
    """A staged write that cannot be published as asked."""


def temporary_name(final: Path, keep_suffix: bool = False) -> Path:
    """A hidden name beside `final` that says which process on which host owns it; `keep_suffix`
    ends it with final's suffix too, for writers that check it (Keras saves only to `*.keras`)."""
    host = socket.gethostname().encode("utf-8").hex()
    ext = final.suffix if keep_suffix and re.fullmatch(r"\.[A-Za-z0-9]{1,16}", final.suffix) else ""
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.{host}{TMP_SUFFIX}{ext}")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staged_file(final: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yields a temporary path to write (h5py, Keras, ...); on success it becomes `final`.

    On an exception the temporary is deleted and `final` is left as it was.

    Parameters
    ----------
    final : str or Path
        The file to publish (replaced as one step when it exists).
    keep_suffix : bool, default False
        Keep `final`'s suffix on the temporary name (for writers that choose a format by it).

    Yields
    ------
    Path
        The temporary path to write to.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final, keep_suffix)
    try:
        yield tmp
        if not tmp.is_file():
            raise StagingError(f"Nothing was written to the staged file of {final}. Received: {tmp}")
        _fsync_file(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        _remove(tmp)
        raise
    _tidy(final.parent)


@contextmanager
def staged_folder(final: str | Path) -> Iterator[Path]:
    """Yields a temporary folder to fill; on success it is renamed to `final` whole.

    `final` may be missing or an empty folder; a folder with anything in it is refused
    (nothing is ever replaced silently).

    Parameters
    ----------
    final : str or Path
        The folder to publish.

    Yields
    ------
    Path
        The temporary folder to fill.
    """
    final = Path(final)
    if final.exists() and not (final.is_dir() and not any(final.iterdir())):
        raise StagingError(f"Refusing to publish a folder over an existing non-empty path. Received: {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    tmp.mkdir()
    try:
        yield tmp
        for folder, _, files in os.walk(tmp):
            for name in files:
                _fsync_file(Path(folder) / name)
            fsync_dir(Path(folder))
        try:
            os.rename(tmp, final)  # replaces an empty folder only; a filled one raises
        except OSError as error:
            raise StagingError(f"Cannot publish the folder {final} (another writer filled it?): "
                               f"{error.strerror}. Received: {final}") from None
        fsync_dir(final.parent)
    except BaseException:
        _remove(tmp)
        raise
    _tidy(final.parent)


def remove_folder(folder: str | Path) -> Path:
    """Remove a published folder as one step: renamed under a hidden temporary name (readers skip it from
    that moment), then deleted. A kill during the deletion leaves a dead writer's temporary, which the next
    writer in that folder (or `extract verify --repair`) deletes: never a half-removed folder under its name.

    Parameters
    ----------
    folder : str or Path
        The folder to remove.

    Returns
    -------
    Path
        The temporary name it was deleted under.
    """
    folder = Path(folder)
    tmp = temporary_name(folder)
    os.rename(folder, tmp)
    fsync_dir(folder.parent)
    shutil.rmtree(tmp)
    return tmp


def _tidy(folder: Path) -> None:
    """The next writer clears dead writers' temporaries; best effort: the write itself succeeded."""
    try:
        clean_stale(folder)
    except OSError:
        pass


def write_bytes(final: str | Path, data: bytes) -> Path:
    """Write a file whole or not at all (through `staged_file`).

    Parameters
    ----------
    final : str or Path
        The file to write.
    data : bytes
        Its content.

    Returns
    -------
    Path
        `final`.
    """
    with staged_file(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def write_json(final: str | Path, data: Any) -> Path:
    """Write JSON (indented, keys sorted) whole or not at all.

    Parameters
    ----------
    final : str or Path
        The file to write.
    data : object
        Anything `json.dumps` takes.

    Returns
    -------
    Path
        `final`.
    """
    return write_bytes(final, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    """Plain JSON only: nothing in a store file can execute code when read.

    Parameters
    ----------
    path : str or Path
        The file to read.

    Returns
    -------
    object
        The parsed JSON value (a `ValueError` for malformed text).
    """
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class Temporary:
    """A staged file or folder that was never published, and whether its writer still lives."""

    path: Path
    final: str  # the name it would have been published under
    host: str  # "" when the name does not say (an old-style name of another host)
    pid: int
    state: str  # "dead" (deletable), "alive", or "unknown" (another host: liveness unknown)


def parse_temporary(path: Path) -> Temporary | None:
    """The owner of a temporary name, or None for a name that is not one."""
    name = path.name
    match = _STAGED.match(name)
    here = socket.gethostname()
    if match:
        try:
            host = bytes.fromhex(match["host"]).decode("utf-8")
        except UnicodeDecodeError:
            return None
        final, pid = match["final"], int(match["pid"])
    else:  # the version-1 name `.<final>.<host>.<pid>.tmp`: judged only when the host is this one
        old = re.match(r"^\.(?P<rest>.+)\.(?P<pid>\d+)\.tmp$", name)
        if not old:
            return None
        rest, pid = old["rest"], int(old["pid"])
        if rest.endswith(f".{here}") and len(rest) > len(here) + 1:
            final, host = rest[:-len(here) - 1], here
        else:
            final, host = rest, ""
    if host != here:
        return Temporary(path, final, host, pid, "unknown")
    return Temporary(path, final, host, pid, "alive" if _alive(pid) else "dead")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def temporaries(folder: str | Path) -> list[Temporary]:
    """Every temporary in `folder` (not recursive), its writer's liveness judged."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and TMP_SUFFIX in entry.name:
                parsed = parse_temporary(folder / entry.name)
                if parsed is not None:
                    found.append(parsed)
    return sorted(found, key=lambda t: t.path.name)


def stale_temporaries(folder: str | Path) -> list[Temporary]:
    """Temporaries no live writer will publish: dead writers of this host ("dead", safe to
    delete) and other hosts' ("unknown": reported, left alone)."""
    return [t for t in temporaries(folder) if t.state != "alive"]


def clean_stale(folder: str | Path) -> list[Path]:
    """Delete the temporaries of dead writers of this host in `folder`; returns what was deleted."""
    deleted = []
    for temporary in stale_temporaries(folder):
        if temporary.state == "dead":
            _remove(temporary.path)
            deleted.append(temporary.path)
    return deleted


def is_temporary_of(path: Path, final: Path) -> bool:
    """True for a temporary name of `final` (any process's, any host's)."""
    parsed = parse_temporary(path)
    if parsed is None:
        return False
    # an old-style name of another host: `.<final>.<host>.<pid>.tmp` cannot be split, only recognised
    return parsed.final == final.name or (parsed.host == "" and parsed.final.startswith(f"{final.name}."))
