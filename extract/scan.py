"""Scanning a folder-per-class image tree into an index of (path, class, split, content hash).

Two layouts, as in Keras and retrain.py:
  DATA/<split>/<class>/*   when the top-level folders are split names (train, validation, test, ...)
  DATA/<class>/*           otherwise; the split then comes from a stable hash of the file name.
Images are recognised by their first bytes, not by their extension.
"""
from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing", "dev", "holdout"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".gif", ".webp"}
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


class ScanError(ValueError):
    """A data folder that cannot be used as a dataset."""


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


def split_by_name(file_name: str, val_fraction: float) -> str:
    """retrain.py's rule: a hash of the base name (minus any `_nohash_` suffix) picks the split,
    so a file keeps its split when others are added, renamed or relabelled."""
    key = re.sub(r"_nohash_.*$", "", Path(file_name).stem)
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10_000
    return "validation" if bucket < val_fraction * 10_000 else "train"


@dataclass
class ScanEntry:
    path: str  # relative to the data root, POSIX separators
    label: int
    split: str
    hash: str
    kind: str | None
    reason: str = ""  # why the file cannot be used; empty when it can


@dataclass
class Scan:
    root: Path
    layout: str
    classes: list[str]
    entries: list[ScanEntry]
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def usable(self) -> list[ScanEntry]:
        return [e for e in self.entries if not e.reason]

    def split_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.usable():
            counts[entry.split] = counts.get(entry.split, 0) + 1
        return dict(sorted(counts.items()))


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_files(class_dir: Path) -> tuple[list[Path], int]:
    """Every non-hidden file under a class folder; symlinked folders are not followed (no loops)."""
    files, hidden = [], 0
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=False):
        hidden += sum(d.startswith(".") for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                hidden += 1
            else:
                files.append(Path(dirpath) / name)
    return files, hidden


def _read_and_classify(path: Path) -> tuple[str, str | None, str]:
    """(content hash, format, reason) of one file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return "", None, f"unreadable: {error.strerror or error}"
    if not data:
        return content_hash(data), None, "empty file (0 bytes)"
    kind = sniff(data[:16])
    reason = "" if kind else "not an image: content is not JPEG, PNG, BMP, GIF or WebP"
    return content_hash(data), kind, reason


def detect_layout(root: Path) -> str:
    top = _visible_dirs(root)
    return "splits" if top and all(d.name.lower() in SPLIT_NAMES for d in top) else "classes"


def scan_dataset(
    root: str | Path, val_fraction: float = 0.2, layout: str = "auto", workers: int = 8
) -> Scan:
    root = Path(root)
    if not root.is_dir():
        raise ScanError(f"Data folder not found. Received: {root}")
    if not 0.0 <= val_fraction < 1.0:
        raise ScanError(f"val_fraction must be in [0, 1). Received: {val_fraction}")
    layout = detect_layout(root) if layout == "auto" else layout
    if layout not in ("splits", "classes"):
        raise ScanError(f"layout must be auto, splits or classes. Received: {layout!r}")

    # (split or None, class folder)
    if layout == "splits":
        class_dirs = [(s.name, c) for s in _visible_dirs(root) for c in _visible_dirs(s)]
    else:
        class_dirs = [(None, c) for c in _visible_dirs(root)]
    classes = sorted({c.name for _, c in class_dirs})
    label_of = {name: i for i, name in enumerate(classes)}

    candidates: list[tuple[Path, str, int]] = []
    scan = Scan(root=root.resolve(), layout=layout, classes=classes, entries=[])
    for split, class_dir in class_dirs:
        files, hidden = _class_files(class_dir)
        scan.skipped_hidden += hidden
        for path in files:
            candidates.append((path, split or split_by_name(path.name, val_fraction), label_of[class_dir.name]))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: _read_and_classify(c[0]), candidates))
    for (path, split, label), (digest, kind, reason) in zip(candidates, results):
        if kind is None and path.suffix.lower() not in IMAGE_EXTENSIONS and not reason.startswith("unreadable"):
            scan.skipped_non_image += 1  # README.txt and the like: not meant as an image
            if len(scan.skipped_examples) < 5:
                scan.skipped_examples.append(str(path.relative_to(root)))
            continue
        rel = path.relative_to(root).as_posix()
        scan.entries.append(ScanEntry(rel, label, split, digest, kind, reason))

    populated = sorted({classes[e.label] for e in scan.usable()})
    if not scan.usable():
        raise ScanError(f"No images found in the data folder. Received: {root}")
    if len(populated) < 2:
        raise ScanError(
            f"At least 2 classes with images are needed; found {len(populated)}: {', '.join(populated)}. "
            f"Received: {root}"
        )
    return scan
