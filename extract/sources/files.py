"""Files on disk: walking a folder without hidden files or symlink loops, and telling images apart.

Images are recognised by their first bytes, not by their extension: a PNG saved without an
extension is used, an HTML page saved as .jpg is rejected with a reason. A file that is neither an
image by content nor by extension (README.txt, labels.csv) is skipped and counted, not rejected.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".gif", ".webp"}
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def sniff(head: bytes) -> str | None:
    """The image format from a file's first bytes, or None when it is no image we decode."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


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
        hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                hidden += 1
            else:
                files.append(Path(dirpath) / name)
    return files, hidden


def read_and_classify(path: Path) -> tuple[str, str | None, str]:
    """(content hash, format, reason) of one file; the reason is empty when the file is usable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return "", None, f"unreadable: {error.strerror or error}"
    if not data:
        return content_hash(data), None, "empty file (0 bytes)"
    kind = sniff(data[:16])
    reason = "" if kind else "not an image: content is not JPEG, PNG, BMP, GIF or WebP"
    return content_hash(data), kind, reason


def read_all(paths: list[Path], workers: int = 8) -> list[tuple[str, str | None, str]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read_and_classify, paths))


def meant_as_image(path: Path, kind: str | None, reason: str) -> bool:
    """False for a stray non-image file (notes.txt): skipped and counted rather than rejected."""
    return kind is not None or path.suffix.lower() in IMAGE_EXTENSIONS or reason.startswith("unreadable")


def looks_like_image(path: Path) -> bool:
    """A cheap guess (extension, or the first 16 bytes) for files that will not be read whole,
    such as loose images left out of a dataset, so that their count in a note is right."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with path.open("rb") as handle:
            return sniff(handle.read(16)) is not None
    except OSError:
        return False
