"""Files on disk: walking a folder without hidden files or symlink loops, and telling images apart.

Symlinks follow one rule, for folders as for files (extract.sources.reading): one that resolves inside
the data folder is followed, one that leads outside is not, and is named (a folder in the scan's note,
a file as a rejected entry with its reason). A symlink back to a folder the walk is inside of (a loop) is not followed.

Images are recognised by their first bytes, not by their extension: a PNG saved without an
extension is used, an HTML page saved as .jpg is rejected with a reason. A file that is neither an
image by content nor by extension (README.txt, labels.csv) is skipped and counted, not rejected.
"""
from __future__ import annotations

import hashlib
import os
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".gif", ".webp"}
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def sniff(head: bytes) -> str | None:
    """The image format from a file's first bytes, or None when it is no image we decode.

    Parameters
    ----------
    head : bytes
        The file's first bytes (12 are enough).

    Returns
    -------
    str or None
        jpeg, png, gif, bmp or webp; None for anything else.
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


STORE_MARKER = "store.json"  # a feature store's folder (store.layout): never part of the data


@dataclass
class WalkNotes:
    """What the walks of one scan passed over, for its notes: store folders, and symlinked folders leading
    outside `root` (the data folder's real path; None outside a scan: symlinked folders are not followed)."""

    root: str | None = None
    stores: set = field(default_factory=set)
    links_out: set = field(default_factory=set)


_WALK: ContextVar[WalkNotes | None] = ContextVar("walk_notes", default=None)


def is_store_folder(folder: Path) -> bool:
    """A feature store (its marker file) found inside a data folder: left out of the data."""
    return (folder / STORE_MARKER).is_file()


def _pass_store(folder: Path) -> bool:
    if not is_store_folder(folder):
        return False
    notes = _WALK.get()
    if notes is not None:
        notes.stores.add(str(folder))
    return True


@contextmanager
def noting_walks(root: Path | None = None) -> Iterator[WalkNotes]:
    """Collect what the walks inside this block leave out (the scan's notes); symlinked folders that
    resolve inside `root` are followed within it."""
    token = _WALK.set(WalkNotes(os.path.realpath(root) if root is not None else None))
    try:
        yield _WALK.get()
    finally:
        _WALK.reset(token)


def inside(target: str, root: str) -> bool:
    """Whether the real path `target` lies in the real folder `root`."""
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _follow_link(path: str) -> bool:
    """Whether a symlinked folder is walked: only inside the data folder (else noted, and not)."""
    notes = _WALK.get()
    if notes is None or notes.root is None:
        return False
    if inside(os.path.realpath(path), notes.root):
        return True
    notes.links_out.add(path)
    return False


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and not _pass_store(p)
                  and (not p.is_symlink() or _follow_link(str(p))))


def loose_files(folder: Path) -> tuple[list[Path], int]:
    """The non-hidden files directly in a folder (not in its subfolders), and how many were hidden."""
    files, hidden = [], 0
    for path in sorted(folder.iterdir()):
        if path.is_dir() and not path.is_symlink():
            continue
        if path.name.startswith("."):
            hidden += 1
        elif not path.is_dir():  # a symlink to a folder is no file
            files.append(path)
    return files, hidden


def loose_names(folder: Path, prefix: str = "") -> tuple[list[str], list[str], int]:
    """loose_files in bulk: (absolute paths, `prefix` + name, hidden count) as plain strings, in its
    order (one os.scandir, no Path object per file)."""
    paths, rels, hidden = [], [], 0
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        folder_like = _is_dir(entry)
        if folder_like and not entry.is_symlink():
            continue
        if entry.name.startswith("."):
            hidden += 1
        elif not folder_like:  # a symlink to a folder is no file
            paths.append(entry.path)
            rels.append(prefix + entry.name)
    return paths, rels, hidden


def walk_files(folder: Path) -> tuple[list[Path], int]:
    """Every non-hidden file under a folder, sorted, and how many hidden files and folders were passed
    over; symlinked folders by the module's rule (followed inside the data folder, never in a loop)."""
    paths, _, hidden = walk_names(folder, "")
    return [Path(p) for p in paths], hidden


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: a file that cannot be read, rejected with its reason when read
        return False


def walk_names(folder: Path, prefix: str) -> tuple[list[str], list[str], int]:
    """walk_files in bulk: (absolute paths, paths relative to the data root as `prefix` + the path
    under `folder`, hidden count), as plain strings in walk_files' order (one os.scandir per folder,
    no Path object per file)."""
    paths, rels, hidden = [], [], 0

    def visit(directory: str, rel: str, above: frozenset) -> None:
        nonlocal hidden
        real = os.path.realpath(directory)
        if real in above:  # a symlink back to a folder this walk is inside of: a loop
            return
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        if any(e.name == STORE_MARKER for e in entries) and _pass_store(Path(directory)):
            return
        folders = []
        for entry in entries:
            if _is_dir(entry):
                if entry.name.startswith("."):
                    hidden += 1
                elif not entry.is_symlink() or _follow_link(entry.path):  # inside the data folder only
                    folders.append(entry)
            elif entry.name.startswith("."):
                hidden += 1
            else:
                paths.append(entry.path)
                rels.append(rel + entry.name)
        for entry in folders:
            visit(entry.path, f"{rel}{entry.name}/", above | {real})

    visit(str(folder), prefix, frozenset())
    return paths, rels, hidden


def meant_as_image(path: str | Path, kind: str | None, reason: str) -> bool:
    """False for a stray non-image file (notes.txt): skipped and counted rather than rejected."""
    return (kind is not None or os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS
            or reason.startswith("unreadable"))


def looks_like_image(path: str | Path) -> bool:
    """A cheap guess (extension, or the first 16 bytes) for files that will not be read whole,
    such as loose images left out of a dataset, so that their count in a note is right."""
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:  # a str or a Path
        return True
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False  # a FIFO would block the open, a device never ends: only regular files are read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            return sniff(os.read(fd, 16)) is not None
        finally:
            os.close(fd)
    except OSError:
        return False


BAD_NAME_REASON = "a name that is not valid UTF-8: not read (rename it)"


def name_encodable(name: str) -> bool:
    """Whether a name read from disk is valid UTF-8 (os.fsdecode carries any other bytes as lone surrogates,
    which no record, CSV or JSON file can hold)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped_name(name: str) -> str:
    """A name shown by its bytes (`bad\\xff.png`): valid text to record and print, and what a shell's
    $'...' quoting takes to rename the file. A valid name is returned as it is."""
    return name if name_encodable(name) else os.fsencode(name).decode("utf-8", "backslashreplace")

