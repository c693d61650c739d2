"""What every export format shares: the deployer's metadata, the result, the check, the staged folder.

An export is a folder: the model in its format, plus `labels.txt`, `preprocessing.json` and a
model card. It is written through the store's staged folder (a temporary name beside `out`,
fsynced, renamed into place) only after the model was loaded back in its own runtime and
agreed with the expected probabilities, so `out` holds either nothing or a whole, checked export.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from heads.errors import HeadError

LABELS_FILE, META_FILE, CARD_FILE = "labels.txt", "preprocessing.json", "README.md"
# Probability difference allowed by default: what `heads export` allows against `heads predict`
# (features stored as float16, recomputed in float32 by the exported model).
DEFAULT_TOLERANCE = 0.02

Predict = Callable[[np.ndarray], np.ndarray]  # batch of images -> probabilities (float32)


@dataclass
class ExportMeta:
    """What a deployer needs beside the model: its input, its preprocessing, its classes, its origin."""

    class_names: list[str]  # in the order of the probability columns
    input_size: int  # the model takes (input_size, input_size, 3) RGB images, 0..255
    resize: str  # how the caller brings an image to input_size (the extraction's resize mode)
    preprocess: str  # the preprocessing mode the model applies inside (caffe, tf, torch, none)
    backbone: str
    config_id: str
    head_id: str
    kind: str
    extra: dict = field(default_factory=dict)  # e.g. {"metrics": {...}, "metrics_split": "validation"}
    branches: list[dict] = field(default_factory=list)  # per input configuration: config_id, size, resized_inside
    views: list[str] = field(default_factory=list)  # test-time views averaged inside the model
    resize_check: dict | None = None  # how far resizes inside the model move it from `heads predict`, and why
    notes: list[str] = field(default_factory=list)  # one line each: what the check could not use


@dataclass
class FormatResult:
    path: Path  # the model inside the export folder (file, or folder for a SavedModel)
    fmt: str
    files: list[str]  # every file of the export folder, relative to it
    bytes: int  # total size of the export folder
    checked: int  # images compared with the expected probabilities
    max_difference: float  # largest probability difference seen (nan when nothing was checked)
    agreement: float  # share of checked images with the same top class (nan when nothing was checked)
    runtime: str  # what loaded the model back for the check
    seconds: float = 0.0  # time to write (convert) the model, check excluded
    notes: list[str] = field(default_factory=list)  # the check's notes (e.g. store images changed on disk)
    resize_check: dict | None = None  # ExportMeta.resize_check


def validate_meta(meta: ExportMeta) -> None:
    names = [str(n) for n in meta.class_names]
    if not names or len(set(names)) != len(names) or any(not n or "\n" in n or "\r" in n for n in names):
        raise HeadError(f"Class names must be distinct, non-empty, one line each. Received: {meta.class_names!r}")
    if not isinstance(meta.input_size, int) or meta.input_size < 1:
        raise HeadError(f"The input size is a positive number of pixels. Received: input_size={meta.input_size!r}")


def labels_text(meta: ExportMeta) -> str:
    """labels.txt: one class name a line, in the order of the probability columns."""
    return "".join(f"{name}\n" for name in meta.class_names)


def validate_check(check: list, meta: ExportMeta) -> tuple[np.ndarray, np.ndarray]:
    """The check pairs as two arrays: images (n, size, size, 3) float32 and probabilities (n, classes)."""
    shape, width = (meta.input_size, meta.input_size, 3), len(meta.class_names)
    for image, expected in check:
        if np.shape(image) != shape or np.shape(expected) != (width,):
            raise HeadError(f"A check pair is (image {shape}, probabilities ({width},)). "
                            f"Received: ({np.shape(image)}, {np.shape(expected)})")
    if not check:
        return np.zeros((0, *shape), np.float32), np.zeros((0, width), np.float32)
    return (np.stack([np.asarray(i, np.float32) for i, _ in check]),
            np.stack([np.asarray(e, np.float32) for _, e in check]))


def compare(predict: Predict, images: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(largest probability difference, top-1 agreement) of the loaded model against `expected`."""
    if not len(images):
        return float("nan"), float("nan")
    got = np.asarray(predict(images), np.float32)
    if got.shape != expected.shape:
        raise HeadError(f"The exported model returns {got.shape[1:]} probabilities per image, "
                        f"expected {expected.shape[1:]}. Received: output shape {got.shape}")
    return float(np.abs(got - expected).max()), float(np.mean(got.argmax(1) == expected.argmax(1)))


def refuse_existing(out: Path) -> None:
    if out.is_file() or out.is_symlink() or (out.is_dir() and any(out.iterdir())):
        raise HeadError(f"The export folder exists and is not empty. Received: out={out}")


def folder_listing(folder: Path) -> tuple[list[str], int]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [p.relative_to(folder).as_posix() for p in files], sum(p.stat().st_size for p in files)


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
