"""`heads export`: a head with its backbones as one deployable model, in the format asked.

    image (S x S, RGB 0..255) -> heads.export_model: per view and input configuration, resampled
    by constant matrices where it differs from the input -> the configuration's extractor -> the
    head's model as Keras layers -> probabilities (averaged over the test-time views asked)

S is the size of the head's input configuration (the largest when it reads several). heads.formats
writes the model as keras, savedmodel, tflite or onnx, a folder each with labels.txt,
preprocessing.json, a model card and predict.py. Before the folder is put in place, the written
model is loaded back in its own runtime and compared, on store images whose files still hold the
content extracted (heads.export_check), with what `heads predict` gives for them.

A configuration smaller than S is resized inside the model from the S x S input, where
extraction resized the original image directly: two resizes in a row are not one, so such a
head's exported probabilities differ from `heads predict`'s by more than storage rounding. The
difference is measured on the check images and written into the folder with its reason; the
format is then checked against the tool's own Keras model of the same computation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from extract import tta_views
from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.export_check import CheckImages, check_images
from heads.export_model import build_export_model
from heads.formats import DEFAULT_TOLERANCE, ExportMeta, FormatResult, export_formats, write_export
from heads.formats.common import refuse_existing
from heads.kinds.registry import KINDS
from heads.outputs import refuse_record_folder
from heads.tta import view_inputs

FORMATS = export_formats()  # keras, savedmodel, tflite, onnx
# Probability difference allowed against `heads predict`: the store holds features as float16,
# the exported model computes them in float32.
TOLERANCE = DEFAULT_TOLERANCE


def check_exportable(loaded: LoadedHead) -> None:
    """Refuse a head that is no Keras layer, before any backbone is built (a dry run on symbolic inputs)."""
    import keras

    if not loaded.kind.exportable:
        exportable = ", ".join(k.name for k in KINDS.values() if k.exportable)
        raise HeadError(f"A {loaded.kind.name} head is not a Keras layer; exportable kinds: {exportable}. "
                        f"Received: {loaded.head_id}")
    loaded.model.to_keras([keras.Input(shape) for shape in loaded.inputs.shapes])


def export_size(loaded: LoadedHead) -> int:
    """The exported model's input size: its input configuration's (the largest when it reads several)."""
    return max(int(config.size) for config in loaded.inputs.configs)


def export_meta(loaded: LoadedHead, size: int, views: list, checked: CheckImages,
                resize_check: dict | None) -> ExportMeta:
    """What the model card and preprocessing.json say: classes in column order, input, origin, metrics."""
    config = next(c for c in loaded.inputs.configs if int(c.size) == size)
    record = loaded.record
    data = record["data"]
    branches = [{"config_id": c.config_id, "backbone": c.backbone, "size": int(c.size), "layer": c.layer,
                 "resized_inside": int(c.size) != size} for c in loaded.inputs.configs]
    return ExportMeta(
        class_names=loaded.columns, input_size=size, resize=config.resize, preprocess=config.preprocess,
        backbone="+".join(dict.fromkeys(c.backbone for c in loaded.inputs.configs)),
        config_id=",".join(loaded.inputs.ids), head_id=loaded.head_id, kind=loaded.kind.name,
        extra={"metrics": {split: summary for split, summary in record.get("metrics", {}).items()
                           if split != data.get("train_split", "train")},
               "data": {"dataset": data["dataset"], "counts": data["counts"], "digest": data["digest"]}},
        branches=branches, views=[view.name for view in views], resize_check=resize_check,
        notes=list(checked.notes))


def inner_resize_check(model, loaded: LoadedHead, checked: CheckImages, size: int,
                       tolerance: float) -> tuple[np.ndarray, dict | None]:
    """What each format is compared with, and the record of the inner resizes' effect (None without any).

    A head whose configurations all have the input size: `heads predict`'s probabilities. One resized
    inside: the difference from `heads predict` is measured; within the tolerance the format is checked
    against `heads predict` all the same, over it against the tool's Keras model of the same computation
    (the difference, and why, is written into the folder)."""
    inside = [c for c in loaded.inputs.configs if int(c.size) != size]
    if not inside:
        return checked.expected, None
    record = {"configs": [c.config_id for c in inside], "sizes": [int(c.size) for c in inside],
              "checked": len(checked.paths), "max_difference": float("nan"), "agreement": float("nan"),
              "compared_with": "heads predict",
              "why": (f"extraction resized the original image to {', '.join(str(int(c.size)) for c in inside)} px "
                      f"directly; the exported model resizes its {size} x {size} input again inside (the same "
                      f"antialiased bilinear filter, as constant matrices): two resizes in a row are not one")}
    if not len(checked.paths):
        return checked.expected, record
    reference = np.concatenate([np.asarray(model(checked.images[i:i + 16], training=False), np.float32)
                                for i in range(0, len(checked.images), 16)])
    record["max_difference"] = float(np.abs(reference - checked.expected).max())
    record["agreement"] = float(np.mean(reference.argmax(1) == checked.expected.argmax(1)))
    if record["max_difference"] <= tolerance:
        return checked.expected, record
    record["compared_with"] = "the tool's Keras model of the same computation (before conversion)"
    return reference, record


def export_head(head: str | Path, out: str | Path, store: str | Path | None = None, check: int = 8,
                format: str = "keras", tolerance: float = TOLERANCE, tta: int = 0) -> FormatResult:
    """Write a head with its inputs' backbones as one deployable model.

    Parameters
    ----------
    head : str or path
        A head folder, or a head id (or unique prefix) of `store`.
    out : path
        The export folder to write (missing or empty); written whole or not at all.
    store : path, optional
        The store to check against (default: the head's own).
    check : int
        Store images to compare the written model with `heads predict` on, in its own runtime.
    format : str
        keras, savedmodel, tflite or onnx.
    tolerance : float
        Largest probability difference allowed against `heads predict`.
    tta : int
        Test-time views averaged inside the model (a flip first, then zooms: `heads predict --tta K`).

    Returns
    -------
    FormatResult
        The folder's files and size, and the check's figures and notes.
    """
    format = getattr(format, "value", format)
    if format not in FORMATS:
        raise HeadError(f"Unknown export format. Allowed: {', '.join(FORMATS)}. Received: --format {format}")
    if check < 0:
        raise HeadError(f"--check is a number of images, 0 or more. Received: --check {check}")
    out = Path(out)
    refuse_record_folder(out)
    refuse_existing(out)
    loaded = load_head(resolve_head(head, store))
    check_exportable(loaded)
    view_inputs(loaded.inputs, tta)  # a count out of range, or a head already on a view: refused here
    views = tta_views(int(tta))
    size = export_size(loaded)
    checked = check_images(loaded, store, check, size, views)
    model = build_export_model(loaded, size, views)
    expected, resize_check = inner_resize_check(model, loaded, checked, size, tolerance)
    meta = export_meta(loaded, size, views, checked, resize_check)
    return write_export(model, format, out, meta, list(zip(checked.images, expected)), tolerance=tolerance)
