"""Reading the files of a data folder, in bulk, by rules that hold for hostile folders.

Rules (each file rejected with a reason, the others read):
- only regular files are read: a FIFO, socket or device gets "not a regular file" and is never
  opened for reading (a FIFO would block, /dev/zero never ends);
- a symlink is followed only when it resolves to a regular file inside the data folder; one that
  leads outside (or to anything but a regular file) is rejected, never opened;
- the kind of a file is sniffed from its first 4 KB; a file that is no image by content is not read
  further (a 3 GB backup.tar costs one small read), and nothing larger than the size limit
  (`max_image_mb`, default 512) is read at all;
- a file read whole is hashed in 1 MB blocks: memory does not grow with its size.

The stat cache (store.stat_cache) answers for files whose version is known, so a rerun reads only
what changed; the stats are taken in bulk (one lstat per file) and matched in one vectorised search.
"""
from __future__ import annotations

import hashlib
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from extract.sources.files import inside, sniff
from store.stat_cache import FileStats, StatCache

SNIFF_BYTES = 4096
BLOCK_BYTES = 1 << 20
DEFAULT_MAX_IMAGE_MB = 512
NOT_IMAGE = "not an image: content is not JPEG, PNG, BMP, GIF or WebP"


@dataclass(frozen=True)
class ReadRules:
    """How the files of a scan are read.

    Parameters
    ----------
    max_image_mb : float
        Larger files are rejected unread.
    rehash : bool, default False
        Read and hash every file, trusting no recorded file version.
    known : StatCache, optional
        The dataset's stat cache: files whose size, mtime, inode and ctime are unchanged are not read.
    """

    max_image_mb: float = DEFAULT_MAX_IMAGE_MB
    rehash: bool = False
    known: StatCache | None = None

    @property
    def max_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)


@dataclass
class ReadOutcome:
    """Per file (in the order given): content hash ("" when not read whole), kind, reason; and the
    versions to record in the next stat cache (the images read or known)."""

    hashes: list[str]
    kinds: list[str | None]
    reasons: list[str]
    versions: FileStats = field(default_factory=FileStats.empty)
    version_hashes: np.ndarray = field(default_factory=lambda: np.array([], dtype="S64"))
    version_kinds: np.ndarray = field(default_factory=lambda: np.array([], dtype="S8"))
    bad_names: list[str] = field(default_factory=list)  # left out: names that are not valid UTF-8
    read: int = 0  # files opened and read (whole or their first bytes)
    known: int = 0  # files answered by the stat cache
    scanned_ns: int = 0

    def release_versions(self) -> None:
        """Drop the versions once recorded (about 150 bytes per file)."""
        self.versions = FileStats.empty()
        self.version_hashes = np.array([], dtype="S64")
        self.version_kinds = np.array([], dtype="S8")


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def _what(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular_stat(path: str, root: str) -> tuple[os.stat_result | None, str]:
    """The stat of the regular file `path` names (through a symlink inside `root`), or a reason."""
    try:
        info = os.lstat(path)
    except OSError as error:
        return None, f"unreadable: {error.strerror or error}"
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        if not inside(target, root):
            return None, "a symlink to outside the data folder: not followed"
        try:
            info = os.stat(target)
        except OSError as error:
            return None, f"unreadable: a symlink whose target cannot be read ({error.strerror or error})"
        if not stat.S_ISREG(info.st_mode):
            return None, f"a symlink to {_what(info.st_mode)}: not read (only regular files are)"
        return info, ""
    if not stat.S_ISREG(info.st_mode):
        return None, f"{_what(info.st_mode)}: not read (only regular files are)"
    return info, ""


def read_one(path: str, max_bytes: int) -> tuple[str, str | None, str]:
    """(content hash, kind, reason) of a regular file: sniffed first, read whole only when an image."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # never blocks, even if swapped for a FIFO
    except OSError as error:
        return "", None, f"unreadable: {error.strerror or error}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "", None, f"{_what(info.st_mode)}: not read (only regular files are)"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            head = handle.read(SNIFF_BYTES)
            if not head:
                return hashlib.sha256(b"").hexdigest(), None, "empty file (0 bytes)"
            kind = sniff(head[:16])
            if kind is None:
                return "", None, NOT_IMAGE
            digest, total = hashlib.sha256(head), len(head)
            while total <= max_bytes:
                block = handle.read(BLOCK_BYTES)
                if not block:
                    break
                digest.update(block)
                total += len(block)
            if total > max_bytes:  # it grew past the limit since its stat
                return "", None, _too_large(total, max_bytes)
            return digest.hexdigest(), kind, ""
    except OSError as error:
        return "", None, f"unreadable: {error.strerror or error}"
    finally:
        os.close(fd)


def hash_image_file(path: str | Path, max_image_mb: float = DEFAULT_MAX_IMAGE_MB) -> tuple[str, str]:
    """Content hash of one file named outside any data folder (`heads predict`): only a regular file
    (a symlink followed) no larger than the limit is read, and only when it is an image.

    Parameters
    ----------
    path : str or Path
        The file.
    max_image_mb : float
        Size limit in MB.

    Returns
    -------
    tuple of (str, str)
        (sha256 of its bytes, "") for a usable image, ("" or the hash, reason) otherwise.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "", "not found"
    except OSError as error:
        return "", f"unreadable: {error.strerror or error}"
    max_bytes = int(max_image_mb * 1024 * 1024)
    if not stat.S_ISREG(info.st_mode):
        return "", f"{_what(info.st_mode)}: not read (only regular files are)"
    if info.st_size > max_bytes:
        return "", _too_large(info.st_size, max_bytes)
    digest, _, reason = read_one(str(path), max_bytes)
    return digest, reason


def _too_large(size: int, max_bytes: int) -> str:
    return (f"larger than the size limit ({size / 2**20:.0f} MB > {max_bytes / 2**20:.0f} MB, "
            f"--max-image-mb): not read")


def read_files(root: Path, paths: list[str], rels: list[str], rules: ReadRules, workers: int = 8) -> ReadOutcome:
    """Read `paths` (absolute; `rels` relative to `root`, as recorded) by the rules above."""
    scanned_ns = time.time_ns()
    root_text = os.path.realpath(root)
    count = len(paths)
    hashes, kinds, reasons = [""] * count, [None] * count, [""] * count
    stats = np.zeros((count, 4), dtype=np.int64)
    regular = np.zeros(count, dtype=bool)
    for i, path in enumerate(paths):
        info, reason = regular_stat(path, root_text)
        if info is None:
            reasons[i] = reason
            continue
        if info.st_size > rules.max_bytes:
            reasons[i] = _too_large(info.st_size, rules.max_bytes)
            continue
        regular[i] = True
        stats[i] = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
    current = FileStats(np.array([r.encode() for r in rels], dtype=bytes) if rels else np.array([], dtype="S1"),
                        *(stats[:, k] for k in range(4)))
    known = np.zeros(count, dtype=bool)
    if rules.known is not None and not rules.rehash:
        known, known_hashes, known_kinds = rules.known.lookup(current)
        known &= regular
        kind_names = {k: k.decode() or None for k in set(known_kinds[known].tolist())}  # one str per kind
        for i, digest, kind in zip(np.flatnonzero(known).tolist(), known_hashes[known].tolist(),
                                   known_kinds[known].tolist()):
            hashes[i], kinds[i] = digest.decode(), kind_names[kind]
        del known_hashes, known_kinds
    todo = np.flatnonzero(regular & ~known)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda i: read_one(paths[i], rules.max_bytes), todo))
    for i, (digest, kind, reason) in zip(todo, results):
        hashes[i], kinds[i], reasons[i] = digest, kind, reason
    images = np.array([bool(regular[i]) and kinds[i] is not None and not reasons[i] for i in range(count)], dtype=bool)
    return ReadOutcome(hashes, kinds, reasons, current.take(images),
                       np.array([h for h, ok in zip(hashes, images) if ok], dtype="S64"),
                       np.array([k or "" for k, ok in zip(kinds, images) if ok], dtype="S8"),
                       read=len(todo), known=int(known.sum()), scanned_ns=scanned_ns)
