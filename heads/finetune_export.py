"""`heads export` for a fine-tuned head: one Keras model from raw images to class probabilities.

    image (any size, RGB 0..255) -> Resizing (as extraction) -> the saved fine-tuned model
        (preprocessing -> base with its fine-tuned blocks -> [pool] -> head) -> probabilities

A sigmoid output becomes the two class columns [1 - p, p] through a fixed Dense(2) (kernel
[-1, 1], bias [1, 0]): exact, and still only Keras's built-in layers, so plain
`keras.models.load_model` reads the file. It is checked, before it is put in place, against
what `heads predict` gives for a few images of the store.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def build_finetuned_export(loaded):
    import keras

    from extract.model import resizing_layer

    config = loaded.config
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = loaded.estimator.model(resizing_layer(config.size, config.resize)(inputs))
    if x.shape[-1] == 1:
        columns = keras.layers.Dense(2, name="probabilities", trainable=False)
        x = columns(x)
        columns.set_weights([np.array([[-1.0, 1.0]], np.float32), np.array([1.0, 0.0], np.float32)])
    return keras.Model(inputs, x, name=f"{config.backbone}_finetuned_classifier")


def _expected(loaded, store, count: int):
    """(image files, probabilities `heads predict` gives for them) for up to `count` store images."""
    from heads.export import _check_images
    from heads.finetune_use import cut_view, index_view, resized_images

    view = cut_view(loaded, store)
    if view is not None:  # stored activations at the cut, through the fine-tuned top
        pairs = _check_images(view, count)
        if pairs:
            features = view.features_for([h for _, h in pairs]).astype(np.float32)
            return [p for p, _ in pairs], loaded.estimator.proba_from_cut(features)
    view = index_view(loaded, store)
    pairs = _check_images(view, count) if view is not None else []
    images, _, reasons = resized_images(loaded, [str(p) for p, _ in pairs], 8)
    keep = [i for i, reason in enumerate(reasons) if not reason]
    return [pairs[i][0] for i in keep], loaded.estimator.predict_proba(images[keep])


def export_finetuned(loaded, out: Path, store, check: int):
    """Write, reload, compare, then put in place (heads.export's contract)."""
    from heads.export import save_checked

    model = build_finetuned_export(loaded)
    files, expected = _expected(loaded, store, check) if check > 0 else ([], [])
    return save_checked(model, out, list(zip(files, expected)), "the fine-tuned head")
