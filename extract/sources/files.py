"""Files on disk: walking a folder without hidden files or symlink loops, and telling images apart.

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
# The store folders the walks of the current scan passed over, for its note (see noting_stores).
_STORES_PASSED: ContextVar[set | None] = ContextVar("stores_passed", default=None)


def is_store_folder(folder: Path) -> bool:
    """A feature store (its marker file) found inside a data folder: left out of the data."""
    return (folder / STORE_MARKER).is_file()


def _pass_store(folder: Path) -> bool:
    if not is_store_folder(folder):
        return False
    passed = _STORES_PASSED.get()
    if passed is not None:
        passed.add(str(folder))
    return True


@contextmanager
def noting_stores() -> Iterator[set]:
    """Collect the store folders the walks inside this block leave out (the scan's note)."""
    token = _STORES_PASSED.set(set())
    try:
        yield _STORES_PASSED.get()
    finally:
        _STORES_PASSED.reset(token)


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and not _pass_store(p))


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


def walk_files(folder: Path) -> tuple[list[Path], int]:
    """Every non-hidden file under a folder, sorted, and how many hidden files and folders were passed
    over; symlinked folders are not followed (no loops)."""
    files, hidden = [], 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        if STORE_MARKER in filenames and _pass_store(Path(dirpath)):
            dirnames[:] = []
            continue
        hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                hidden += 1
            else:
                files.append(Path(dirpath) / name)
    return files, hidden


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

    def visit(directory: str, rel: str) -> None:
        nonlocal hidden
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        if any(e.name == STORE_MARKER for e in entries) and _pass_store(Path(directory)):
            return
        folders = []
        for entry in entries:
            if _is_dir(entry):
                if entry.name.startswith("."):
                    hidden += 1
                elif not entry.is_symlink():  # symlinked folders are not followed (no loops)
                    folders.append(entry)
            elif entry.name.startswith("."):
                hidden += 1
            else:
                paths.append(entry.path)
                rels.append(rel + entry.name)
        for entry in folders:
            visit(entry.path, f"{rel}{entry.name}/")

    visit(str(folder), prefix)
    return paths, rels, hidden


def meant_as_image(path: str | Path, kind: str | None, reason: str) -> bool:
    """False for a stray non-image file (notes.txt): skipped and counted rather than rejected."""
    return (kind is not None or os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS
            or reason.startswith("unreadable"))


def looks_like_image(path: Path) -> bool:
    """A cheap guess (extension, or the first 16 bytes) for files that will not be read whole,
    such as loose images left out of a dataset, so that their count in a note is right."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
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
