"""Export formats: one checked, deployable folder per format from an `image -> probabilities` model.

    write_export(model, "tflite", out, meta, check) ->  out/model.tflite
                                                         out/labels.txt          class per column
                                                         out/preprocessing.json  input, resize, classes, check
                                                         out/README.md           model card (skops)

`model` is a keras.Model taking RGB images (batch, size, size, 3), float32 0..255 (Resizing,
preprocessing, frozen base and head inside) and returning class probabilities. Each format
is loaded back in its own runtime and compared with `check` (pairs of image, expected
probabilities) before the folder is renamed into place; over the tolerance, nothing is left.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from heads.errors import HeadError, first_line
from heads.formats import keras_format, onnx_format, savedmodel_format, tflite_format
from heads.formats.common import (DEFAULT_TOLERANCE, ExportMeta, FormatResult, compare, folder_listing,
                                  refuse_existing, validate_check, validate_meta)
from heads.formats.graph import as_uint8
from heads.formats.sidecar import description, write_sidecars
from store import staged_folder

FORMATS = {module.NAME: module for module in (keras_format, savedmodel_format, tflite_format, onnx_format)}

__all__ = ["DEFAULT_TOLERANCE", "ExportMeta", "FormatResult", "export_formats", "write_export"]


def export_formats() -> tuple[str, ...]:
    return tuple(FORMATS)


def _check_model(model, meta: ExportMeta) -> None:
    size, width = meta.input_size, len(meta.class_names)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 3 or any(d not in (None, size) for d in shape[1:3]):
        raise HeadError(f"The model takes RGB images (batch, {size}, {size}, 3) (or any size). "
                        f"Received: input shape {shape}")
    if tuple(model.output_shape)[-1] != width:
        raise HeadError(f"The model returns {model.output_shape[-1]} probabilities for "
                        f"{width} class names. Received: output shape {model.output_shape}")


def _verify(fmt: str, runners: dict, images: np.ndarray, expected: np.ndarray, tolerance: float, out: Path):
    """Compare the loaded model with the expected probabilities, and its uint8 entry with its float32 one."""
    worst, agreement = compare(runners["float32"], images, expected)
    if worst > tolerance:
        raise HeadError(f"The exported {fmt} model differs from the expected probabilities by up to {worst:.6f} "
                        f"(allowed {tolerance}) over {len(images)} images; nothing written. Received: out={out}")
    probe = as_uint8(images) if len(images) else np.full((1, *images.shape[1:]), 127, np.uint8)
    reference = np.asarray(runners["float32"](probe.astype(np.float32)))
    if reference.shape != (len(probe), expected.shape[1]):
        raise HeadError(f"The exported {fmt} model returns {reference.shape[1:]} per image, expected "
                        f"({expected.shape[1]},); nothing written. Received: out={out}")
    if "uint8" in runners:
        gap = float(np.abs(np.asarray(runners["uint8"](probe)) - reference).max())
        if gap > tolerance:
            raise HeadError(f"The exported {fmt} model's uint8 entry differs from its float32 one by {gap:.6f} "
                            f"(allowed {tolerance}); nothing written. Received: out={out}")
    return worst, agreement


def write_export(model, fmt: str, out: str | Path, meta: ExportMeta, check: list[tuple[np.ndarray, np.ndarray]],
                 tolerance: float = DEFAULT_TOLERANCE) -> FormatResult:
    """Write `model` in `fmt` with its labels, description and model card as the folder `out`, after
    loading it back in the format's runtime and comparing it with `check`."""
    if fmt not in FORMATS:
        raise HeadError(f"Unknown export format. Allowed: {', '.join(FORMATS)}. Received: fmt={fmt!r}")
    if not tolerance >= 0:
        raise HeadError(f"The tolerance is a probability difference >= 0. Received: tolerance={tolerance!r}")
    out, spec = Path(out), FORMATS[fmt]
    refuse_existing(out)
    validate_meta(meta)
    images, expected = validate_check(check, meta)
    _check_model(model, meta)
    spec.require()
    with staged_folder(out) as tmp:  # renamed to `out` only when the block succeeds; else removed
        started = time.perf_counter()
        try:
            spec.write(model, tmp / spec.FILE, meta)
        except Exception as error:  # converters raise their own types, often with pages of op dumps
            raise HeadError(f"The model does not convert to {fmt}; nothing written: {first_line(error)}") from error
        seconds = time.perf_counter() - started
        try:
            runners = spec.load(tmp / spec.FILE)
        except Exception as error:
            raise HeadError(f"The exported {fmt} model does not load in {spec.runtime()}; nothing written: "
                            f"{first_line(error)}") from error
        worst, agreement = _verify(fmt, runners, images, expected, tolerance, out)
        check_record = {"checked": len(images), "max_difference": worst, "agreement": agreement,
                        "tolerance": tolerance, "runtime": spec.runtime()}
        write_sidecars(tmp, meta, description(meta, spec, check_record), spec)
    files, size = folder_listing(out)
    return FormatResult(out / spec.FILE, fmt, files, size, len(images), worst, agreement, spec.runtime(), seconds,
                        list(meta.notes), meta.resize_check)
