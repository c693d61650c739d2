"""`heads export`: a head with its backbones as one deployable model, in the format asked.

    image (size x size, RGB 0..255) -> per input configuration: Resizing (as extraction)
        -> the configuration's extractor (preprocessing -> frozen base up to its layer [+ pooling])
    -> the head's model as Keras layers (heads.kinds.models) -> probabilities

The model is built once, from Keras's own layers only, with a fixed input size: the size of
the head's input configuration (the largest when it reads several). heads.formats writes it
as keras, savedmodel, tflite or onnx, a folder each with labels.txt, preprocessing.json and a
model card. Before the folder is put in place, the written model is loaded back in its own
runtime and compared, on images of the store still on disk (decoded and resized as extraction
does), with what `heads predict` gives for them (the head on the stored features).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.formats import DEFAULT_TOLERANCE, ExportMeta, FormatResult, export_formats, write_export
from heads.formats.common import refuse_existing
from heads.kinds.registry import KINDS

FORMATS = export_formats()  # keras, savedmodel, tflite, onnx
# Probability difference allowed against `heads predict`: the store holds features as float16,
# the exported model computes them in float32.
TOLERANCE = DEFAULT_TOLERANCE


def check_exportable(loaded: LoadedHead) -> None:
    """Refuse a head that is no Keras layer, before any backbone is built (a dry run on symbolic inputs)."""
    import keras

    if not loaded.kind.exportable:
        exportable = ", ".join(k.name for k in KINDS.values() if k.exportable)
        raise HeadError(f"A {loaded.kind.name} head is not a Keras layer; exportable kinds: {exportable} "
                        f"(svm with kernel=linear, sgd with loss=log_loss). Received: {loaded.head_id}")
    loaded.model.to_keras([keras.Input(shape) for shape in loaded.inputs.shapes])


def export_size(loaded: LoadedHead) -> int:
    """The exported model's input size: its input configuration's (the largest when it reads several)."""
    return max(int(config.size) for config in loaded.inputs.configs)


def build_export_model(loaded: LoadedHead, size: int | None = None):
    """The whole classifier (not yet saved); `size` fixes the input size (None: any size).

    Every layer is frozen (`trainable = False`): an exported model only infers, and a frozen
    BatchNormalization stays in inference mode even when a Resizing layer before it would make
    a plain `model(x)` call run in training mode (Keras 3)."""
    import keras

    image = keras.Input(shape=(size, size, 3), name="image")
    extractors = loaded.inputs.extractors()

    def resized(tensor, extractor):
        # At its own size the resize is the identity: left out, so every format converts (TFLite and
        # ONNX know no antialiased resize) and no Resizing layer can switch a call to training mode.
        return tensor if size is not None and int(extractor.config.size) == size else extractor.resizing_layer()(tensor)

    tensors = []
    for number, extractor in enumerate(extractors, 1):
        extractor.model.trainable = False
        if len(extractors) == 1:
            tensors.append(extractor.model(resized(image, extractor)))
            continue
        # Several branches: each its own sub-model, so two backbones' (or two layers of one backbone's) layer
        # names, unique within a branch, never clash in the whole model.
        branch_image = keras.Input(shape=(size, size, 3), name="image")
        features = extractor.model(resized(branch_image, extractor))
        branch = keras.Model(branch_image, features, name=f"branch_{number}_{extractor.config.config_id}")
        tensors.append(branch(image))
    probabilities = loaded.model.to_keras(tensors)
    names = "_".join(c.backbone for c in loaded.inputs.configs)
    model = keras.Model(image, probabilities, name=f"{names}_{loaded.kind.name}_classifier")
    model.trainable = False
    return model


def check_images(loaded: LoadedHead, store: str | Path | None, count: int) -> list[tuple[Path, np.ndarray]]:
    """Up to `count` images of the store still on disk (validation split first), each with the
    probabilities `heads predict` gives for it (the head on the stored features)."""
    if count <= 0:
        return []
    views = loaded.inputs.views(store if store is not None else loaded.store, head_id=loaded.head_id,
                                required=store is not None)
    if not views or views[0].index is None:
        return []
    index = views[0].index
    order = sorted(range(len(index.paths)), key=lambda i: index.splits[i] != "validation")
    picked: list[tuple[Path, str]] = []
    for i in order:
        path = index.absolute(i)
        if index.hashes[i] and loaded.inputs.present(views, [index.hashes[i]])[0] and path.is_file():
            picked.append((path, index.hashes[i]))
            if len(picked) == count:
                break
    if not picked:
        return []
    expected = loaded.predict_proba(loaded.inputs.stored(views, [h for _, h in picked]))
    return [(path, want) for (path, _), want in zip(picked, expected)]


def check_pairs(loaded: LoadedHead, expected: list[tuple[Path, np.ndarray]], size: int):
    """(image, probabilities) pairs: each check image decoded and resized as extraction does it, by the
    input configuration of the export's size (its resize mode), as a deployer is told to."""
    if not expected:
        return []
    extractor = next(e for e in loaded.inputs.extractors() if int(e.config.size) == size)
    images, _, reasons = extractor.load_images([str(path) for path, _ in expected])
    return [(image, want) for image, (_, want), reason in zip(images, expected, reasons) if not reason]


def export_meta(loaded: LoadedHead, size: int) -> ExportMeta:
    """What the model card and preprocessing.json say: classes in column order, input, origin, metrics."""
    config = next(c for c in loaded.inputs.configs if int(c.size) == size)
    record = loaded.record
    data = record["data"]
    return ExportMeta(
        class_names=loaded.columns, input_size=size, resize=config.resize, preprocess=config.preprocess,
        backbone="+".join(dict.fromkeys(c.backbone for c in loaded.inputs.configs)),
        config_id=",".join(loaded.inputs.ids), head_id=loaded.head_id, kind=loaded.kind.name,
        extra={"metrics": {split: summary for split, summary in record.get("metrics", {}).items()
                           if split != data.get("train_split", "train")},
               "data": {"dataset": data["dataset"], "counts": data["counts"], "digest": data["digest"]}})


def export_head(head: str | Path, out: str | Path, store: str | Path | None = None, check: int = 8,
                format: str = "keras", tolerance: float = TOLERANCE) -> FormatResult:
    """Write the head with its inputs' backbones as the export folder `out` in `format`, after checking
    the written model, in its own runtime, against `heads predict` on `check` store images."""
    format = getattr(format, "value", format)
    if format not in FORMATS:
        raise HeadError(f"Unknown export format. Allowed: {', '.join(FORMATS)}. Received: --format {format}")
    if check < 0:
        raise HeadError(f"--check is a number of images, 0 or more. Received: --check {check}")
    out = Path(out)
    refuse_existing(out)
    loaded = load_head(resolve_head(head, store))
    check_exportable(loaded)
    size = export_size(loaded)
    expected = check_images(loaded, store, check)
    model = build_export_model(loaded, size)
    return write_export(model, format, out, export_meta(loaded, size), check_pairs(loaded, expected, size),
                        tolerance=tolerance)
