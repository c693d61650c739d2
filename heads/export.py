"""`heads export`: one Keras model from raw images to class probabilities, for every kind.

    image (any size, RGB 0..255) -> per input configuration: Resizing (as extraction)
        -> the configuration's extractor (preprocessing -> frozen base up to its layer [+ pooling])
    -> the head's model as Keras layers (heads.kinds.models) -> probabilities

Built only from Keras's own layers, so plain `keras.models.load_model` reads it. Before the
file is put in place, it is loaded back and its probabilities are compared, on images of the
store, with what `heads predict` gives for them (the head on the stored features).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.kinds.registry import KINDS
from store import staged_file

TOLERANCE = 0.02  # probability; features are stored as float16, the export computes them in float32


@dataclass
class ExportResult:
    path: Path
    checked: int  # images compared with the head on stored features
    max_difference: float  # largest probability difference seen
    agreement: float  # share of checked images with the same top class


def check_exportable(loaded: LoadedHead) -> None:
    """Refuse a head that is no Keras layer, before any backbone is built (a dry run on symbolic inputs)."""
    import keras

    if not loaded.kind.exportable:
        exportable = ", ".join(k.name for k in KINDS.values() if k.exportable)
        raise HeadError(f"A {loaded.kind.name} head is not a Keras layer; exportable kinds: {exportable} "
                        f"(svm with kernel=linear, sgd with loss=log_loss). Received: {loaded.head_id}")
    loaded.model.to_keras([keras.Input(shape) for shape in loaded.inputs.shapes])


def build_export_model(loaded: LoadedHead, size: int | None = None):
    """The whole classifier (not yet saved); `size` fixes the input size (None: any size)."""
    import keras

    image = keras.Input(shape=(size, size, 3), name="image")
    extractors = loaded.inputs.extractors()
    tensors = []
    for number, extractor in enumerate(extractors, 1):
        extractor.model.trainable = False
        if len(extractors) == 1:
            tensors.append(extractor.model(extractor.resizing_layer()(image)))
            continue
        # Several branches: each its own sub-model, so two backbones' (or two layers of one backbone's) layer
        # names, unique within a branch, never clash in the whole model.
        branch_image = keras.Input(shape=(size, size, 3), name="image")
        features = extractor.model(extractor.resizing_layer()(branch_image))
        branch = keras.Model(branch_image, features, name=f"branch_{number}_{extractor.config.config_id}")
        tensors.append(branch(image))
    probabilities = loaded.model.to_keras(tensors)
    names = "_".join(c.backbone for c in loaded.inputs.configs)
    return keras.Model(image, probabilities, name=f"{names}_{loaded.kind.name}_classifier")


def check_images(loaded: LoadedHead, store: str | Path | None, count: int) -> list[tuple[Path, np.ndarray]]:
    """Up to `count` images of the store still on disk (validation split first), each with the
    probabilities `heads predict` gives for it (the head on the stored features)."""
    if count <= 0:
        return []
    views = loaded.inputs.views(store if store is not None else loaded.store, head_id=loaded.head_id,
                                required=store is not None)
    if not views or views[0].index is None:
        return []
    index, root = views[0].index, Path(views[0].index.data_root)
    order = sorted(range(len(index.paths)), key=lambda i: index.splits[i] != "validation")
    picked: list[tuple[Path, str]] = []
    for i in order:
        path = root / index.paths[i]
        if index.hashes[i] and loaded.inputs.present(views, [index.hashes[i]])[0] and path.is_file():
            picked.append((path, index.hashes[i]))
            if len(picked) == count:
                break
    if not picked:
        return []
    expected = loaded.predict_proba(loaded.inputs.stored(views, [h for _, h in picked]))
    return [(path, want) for (path, _), want in zip(picked, expected)]


def export_head(head: str | Path, out: str | Path, store: str | Path | None = None, check: int = 8) -> ExportResult:
    """Write the head with its inputs' backbones as one `.keras` model, after checking it against the head."""
    out = Path(out)
    if out.suffix != ".keras":
        raise HeadError(f"The exported model is a .keras file. Received: --out {out}")
    if out.exists():
        raise HeadError(f"Output file exists. Received: --out {out}")
    loaded = load_head(resolve_head(head, store))
    check_exportable(loaded)
    expected = check_images(loaded, store, check)
    return save_checked(build_export_model(loaded), out, expected, "the head on stored features")


def save_checked(model, out: Path, expected: list, what: str) -> ExportResult:
    """Save under a temporary name, load it back with plain load_model, compare it on raw images
    with what the head predicts, and only then put it in place (the store's staged write)."""
    import keras

    from extract import read_and_decode

    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(out, keep_suffix=True) as tmp:  # Keras saves only to a *.keras name
        model.save(tmp)
        reloaded = keras.models.load_model(tmp)  # plain: no custom objects, no Lambda
        diffs, agree = [], []
        for path, want in expected:
            image, _, reason = read_and_decode(str(path))
            if image is None:
                continue
            got = keras.ops.convert_to_numpy(reloaded(image[None].astype(np.float32), training=False))[0]
            diffs.append(float(np.abs(got - want).max()))
            agree.append(int(np.argmax(got) == np.argmax(want)))
        worst = max(diffs, default=0.0)
        if worst > TOLERANCE:
            raise HeadError(f"The exported model differs from {what} by up to {worst:.4f} "
                            f"in probability (allowed {TOLERANCE}) over {len(diffs)} images; not written.")
    return ExportResult(out, len(diffs), worst, float(np.mean(agree)) if agree else float("nan"))
