"""`heads export`: one Keras model from raw images to class probabilities.

    image (any size, RGB 0..255) -> Resizing (as extraction) -> preprocessing (frozen Dense(3))
        -> frozen base up to the configuration's layer (+ pooling) -> head -> probabilities

Built only from Keras's own layers, so plain `keras.models.load_model` reads it. Before
the file is put in place, it is loaded back and its probabilities are compared with
the head's own on stored features (what `heads predict` gives) for a few images of the store.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heads.artifact import LoadedHead, load_head, resolve_head
from heads.binding import build_extractor, view_for_head
from heads.errors import HeadError
from heads.kinds.linear import keras_layers, linear_form
from heads.kinds.registry import KINDS, get_kind

TOLERANCE = 0.02  # probability; features are stored as float16, the export computes them in float32


@dataclass
class ExportResult:
    path: Path
    checked: int  # images compared with the head on stored features
    max_difference: float  # largest probability difference seen
    agreement: float  # share of checked images with the same top class


def _dense_layers(estimator, x):
    """The dense head's layers, copied; a sigmoid output becomes the equivalent 2-class softmax."""
    import keras

    layers = [layer for layer in estimator.model_.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers[:-1]:
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        if copy.weights:
            copy.set_weights(layer.get_weights())
    output = layers[-1]
    kernel, bias = output.get_weights()
    if kernel.shape[1] == 1:  # softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)]
        kernel = np.concatenate([np.zeros_like(kernel), kernel], axis=1)
        bias = np.concatenate([np.zeros_like(bias), bias])
    final = keras.layers.Dense(kernel.shape[1], activation="softmax", name="output")
    x = final(x)
    final.set_weights([kernel, bias])
    return x


def _reduce_layer(mode: str, rank: int):
    import keras

    if mode == "flatten" or rank == 1:
        return keras.layers.Flatten(name="reduce_flatten")
    return keras.layers.GlobalAveragePooling2D(name="reduce_avg") if mode == "avg" else \
        keras.layers.GlobalMaxPooling2D(name="reduce_max")


def build_export_model(head: LoadedHead, extractor):
    """The full model (not yet saved)."""
    import keras

    from extract.model import resizing_layer

    config = head.config
    extractor.model.trainable = False
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = resizing_layer(config.size, config.resize)(inputs)
    x = extractor.model(x)
    if get_kind(head.record["kind"]).keras:
        x = _dense_layers(head.estimator, x)
    else:
        form = linear_form(head.estimator)
        x = keras_layers(form, _reduce_layer(form.reduce, len(config.feature_shape))(x))
    return keras.Model(inputs, x, name=f"{config.backbone}_{head.record['kind']}_classifier")


def _check_images(view, count: int) -> list[tuple[Path, str]]:
    """Up to `count` (file, content hash) pairs of the store that are still on disk, validation split first."""
    if view is None or view.index is None or count <= 0:
        return []
    index, root = view.index, Path(view.index.data_root)
    order = sorted(range(len(index)), key=lambda i: index.splits[i] != "validation")
    picked = []
    for i in order:
        path = root / index.paths[i]
        if index.hashes[i] in view.catalog.rows and path.is_file():
            picked.append((path, index.hashes[i]))
            if len(picked) == count:
                break
    return picked


def export_head(head: str | Path, out: str | Path, store: str | Path | None = None, check: int = 8) -> ExportResult:
    """Write the head with its backbone as one `.keras` model, after checking it against the head."""
    out = Path(out)
    if out.suffix != ".keras":
        raise HeadError(f"The exported model is a .keras file. Received: --out {out}")
    if out.exists():
        raise HeadError(f"Output file exists. Received: --out {out}")
    loaded = load_head(resolve_head(head, store))
    if loaded.record["kind"] == "finetune":
        from heads.finetune_export import export_finetuned

        return export_finetuned(loaded, out, store, check)
    spec = get_kind(loaded.record["kind"])
    if not (spec.keras or spec.linear):
        exportable = ", ".join(k.name for k in KINDS.values() if k.keras or k.linear)
        raise HeadError(f"A {spec.name} head is not a Keras layer; exportable kinds: {exportable} "
                        f"(svm with kernel=linear, sgd with loss=log_loss). Received: {loaded.record['head_id']}")
    if not spec.keras:
        linear_form(loaded.estimator)  # refuses rbf SVMs and the like before the backbone is built
    view = view_for_head(loaded, store, required=False)
    extractor = build_extractor(loaded.config)
    model = build_export_model(loaded, extractor)

    pairs = _check_images(view, check)
    expected = loaded.predict_proba(view.features_for([h for _, h in pairs]).astype(np.float32)) if pairs else []
    return save_checked(model, out, [(path, want) for (path, _), want in zip(pairs, expected)],
                        "the head on stored features")


def save_checked(model, out: Path, expected: list, what: str) -> ExportResult:
    """Save under a temporary name, load it back with plain load_model, compare it on raw images
    with what the head predicts, and only then put it in place."""
    import keras

    from extract.decode import read_and_decode

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.keras")
    try:
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
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, len(diffs), worst, float(np.mean(agree)) if agree else float("nan"))
