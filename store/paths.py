"""Paths read from a record (a shard marker, a dataset index, a head) stay inside their folder.

A store is shared and may come from elsewhere: a record must not be able to make a later
command read or overwrite a file outside the folder it belongs to.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from store.errors import StoreError


class PathEscapeError(StoreError):
    """A recorded path that leaves its folder."""


def check_relative(relative: str, what: str = "path") -> PurePosixPath:
    """The lexical checks alone (no file system access): relative, no `..`, no `~`, not empty."""
    text = str(relative)
    pure = PurePosixPath(text.replace("\\", "/"))
    if (not text or not pure.parts or "\0" in text or pure.is_absolute() or text.startswith("~") or ".." in pure.parts
            or (len(text) > 1 and text[1] == ":")):  # C:\... on a store written on Windows
        raise PathEscapeError(f"The {what} must be a relative path inside its folder. Received: {text!r}")
    return pure


def confine(folder: str | Path, relative: str, what: str = "path") -> Path:
    """`folder / relative`, refused when it is absolute, climbs out with `..`, or resolves (through
    a symlink) to a place outside `folder`.

    Parameters
    ----------
    folder : str or Path
        The folder the path must stay in.
    relative : str
        A path read from a record, relative to `folder`.
    what : str, default "path"
        What the path is, for the message.

    Returns
    -------
    Path
        `folder / relative` (not resolved).

    Raises
    ------
    StoreError
        When the path is absolute, climbs out or leads outside `folder`.
    """
    pure = check_relative(relative, what)
    folder = Path(folder)
    candidate = folder.joinpath(*pure.parts)
    root = folder.resolve()
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise PathEscapeError(f"The {what} leads outside {folder} (through a symlink). Received: {relative!r}")
    return candidate
