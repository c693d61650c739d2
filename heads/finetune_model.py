"""The network `heads finetune` trains: the head's backbone with its top blocks reopened, plus the head.

Every model here shares one set of layers (the base's and the dense head's), so training any
of them trains the one that is saved:

    saved      image (size x size, 0..255) -> preprocessing -> base up to the layer -> [pool] -> head
    full path  image -> random flip/rotation/zoom/shift -> the saved model
    cached     activations at the cut -> reopened blocks -> [pool] -> head

Batch normalization stays in inference mode: its layers are made non-trainable, which in
Keras 3 also makes them use their moving statistics under `training=True`. That keeps
batch-norm-folded weights (../shared/weights' MobileNets) exact and the statistics intact.
"""
from __future__ import annotations

from dataclasses import dataclass

from extract.backbones import Backbone
from heads.errors import HeadError

AUGMENT_DEFAULTS = {"flip": True, "rotation": 0.1, "zoom": 0.1, "shift": 0.1}


@dataclass(frozen=True)
class ReopenPlan:
    """Which blocks are reopened and where the frozen part ends (`cut`: None when nothing stays frozen)."""

    backbone: str
    layer: str  # the feature layer the head was trained on
    blocks: int
    reopened: tuple[str, ...]  # block names, bottom to top
    cut: str | None


def plan_reopen(backbone: Backbone, layer: str, blocks: int) -> ReopenPlan:
    """The last `blocks` blocks up to the head's layer, by the registry's block structure."""
    ends = [end for _, end in backbone.blocks]
    names = [name for name, _ in backbone.blocks]
    if layer not in ends:
        raise HeadError(f"Fine-tuning reopens whole blocks, but the head's features come from layer {layer!r}, "
                        f"which ends no block of {backbone.name}. Block ends: {', '.join(ends)}")
    top = ends.index(layer) + 1  # blocks up to and including the head's layer
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= top:
        raise HeadError(f"--blocks must be 1 to {top}: {backbone.name} has {top} blocks up to {layer} "
                        f"({', '.join(names[:top])}). Received: --blocks {blocks}")
    return ReopenPlan(backbone.name, layer, blocks, tuple(names[top - blocks:top]),
                      ends[top - blocks - 1] if blocks < top else None)


def is_batch_norm(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def pool_layer(pool: str):
    import keras

    if pool == "avg":
        return keras.layers.GlobalAveragePooling2D(name="pool_avg")
    if pool == "max":
        return keras.layers.GlobalMaxPooling2D(name="pool_max")
    return None


class FineTuneNet:
    """A base and a dense head assembled for fine-tuning; only the reopened blocks and the head train."""

    def __init__(self, base, plan: ReopenPlan, preprocess: str, pool: str, head_model, size: int):
        from extract.model import build_section, preprocessing_layer

        self.base, self.plan, self.head = base, plan, head_model
        self.section = build_section(base, plan.cut, plan.layer, name="reopened")
        reopened = {id(layer) for layer in self.section.layers}
        for layer in base.layers:
            layer.trainable = id(layer) in reopened and not is_batch_norm(layer)
        head_model.trainable = True
        self.pool = pool_layer(pool)
        self.preprocess = preprocessing_layer(preprocess)
        self.trunk = build_section(base, None, plan.layer, name=f"{plan.backbone}_to_{plan.layer}")
        self.size = size
        self.model = self._images_model(inference_head(head_model), name=f"{plan.backbone}_finetuned")

    def _images_model(self, head, augment: list | None = None, name: str | None = None):
        import keras

        inputs = keras.Input((self.size, self.size, 3), name="image")
        x = inputs
        for layer in augment or []:
            x = layer(x)
        x = self.trunk(self.preprocess(x))
        return keras.Model(inputs, head(self.pool(x) if self.pool else x), name=name)

    @property
    def trainable_layers(self) -> list[str]:
        """Names of the base's layers that train (weights only; BN and frozen layers excluded)."""
        return [layer.name for layer in self.base.layers if layer.trainable and layer.weights]

    @property
    def cut_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.section.input.shape[1:])

    def cached_model(self):
        """Activations at the cut -> reopened blocks -> [pool] -> head (the cached path trains this)."""
        import keras

        if self.plan.cut is None:
            raise HeadError("No frozen part is left below the reopened blocks, so there is nothing to cache.")
        inputs = keras.Input(self.cut_shape, name="cut_activations")
        x = self.section(inputs)
        return keras.Model(inputs, self.head(self.pool(x) if self.pool else x), name="reopened_and_head")

    def full_model(self, augment: dict, seed: int):
        """Images -> online augmentation (active in training only) -> the saved model's layers (the full path)."""
        return self._images_model(self.head, augmentation_layers(augment, seed), name="augmented_finetune")


def inference_head(head):
    """The dense head without its Dropout layers, sharing every other layer (and so its weights).

    Dropout is the identity in inference, but Keras 3 lets a preprocessing layer in front of a
    model (the export's Resizing, whose call defaults to training=True) switch later layers to
    training mode when the model is called as `model(x)`: a saved model without Dropout answers
    the same however it is called.
    """
    import keras

    inputs = keras.Input(tuple(head.input.shape[1:]), name="features")
    x = inputs
    for layer in head.layers[1:]:  # a chain: reduce -> (Dense -> Dropout) per hidden size -> output
        if not isinstance(layer, keras.layers.Dropout):
            x = layer(x)
    return keras.Model(inputs, x, name="dense_head")


def augmentation_layers(augment: dict, seed: int) -> list:
    """Keras preprocessing layers with the ranges of extract.augment's fixed views (reflect fill)."""
    import keras

    layers = []
    if augment.get("flip"):
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"))
    if augment.get("rotation"):
        layers.append(keras.layers.RandomRotation(augment["rotation"], fill_mode="reflect", seed=seed + 1,
                                                  name="random_rotation"))
    if augment.get("zoom"):
        layers.append(keras.layers.RandomZoom(augment["zoom"], fill_mode="reflect", seed=seed + 2,
                                              name="random_zoom"))
    if augment.get("shift"):
        layers.append(keras.layers.RandomTranslation(augment["shift"], augment["shift"], fill_mode="reflect",
                                                     seed=seed + 3, name="random_shift"))
    return layers


def probability_columns(raw):
    """The model's output as one probability per class (a sigmoid unit becomes two columns)."""
    import numpy as np

    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape[1] == 1:
        return np.hstack([1.0 - raw, raw])
    return raw / raw.sum(axis=1, keepdims=True)


def loaded_parts(model, record: dict):
    """From a saved fine-tuned model: (images -> cut activations, cut activations -> raw output)."""
    import keras

    finetune = record["finetune"]
    trunk = model.get_layer(f"{record['config']['backbone']}_to_{finetune['feature_layer']}")
    head = model.get_layer("dense_head")
    pool = next((layer for layer in model.layers if layer.name in ("pool_avg", "pool_max")), None)
    cut = finetune["cut_layer"]
    if cut is None:
        return None, None
    section = keras.Model(trunk.get_layer(cut).output, trunk.output)
    inputs = keras.Input(tuple(section.input.shape[1:]))
    x = section(inputs)
    top = keras.Model(inputs, head(pool(x) if pool else x), name="finetuned_top")
    images = keras.Input(tuple(model.input.shape[1:]))
    preprocess = model.get_layer(f"preprocess_{record['config']['preprocess']}")
    below = keras.Model(trunk.input, trunk.get_layer(cut).output)
    bottom = keras.Model(images, below(preprocess(images)), name="frozen_bottom")
    return bottom, top
