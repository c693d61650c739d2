"""The network `heads finetune` trains: the head's backbone with its top blocks reopened, plus the head.

Every model here shares one set of layers (the base's and the dense head's), so training any
of them trains the one that is saved:

    full path  image (size x size, 0..255) -> random flip/rotation/zoom/shift -> preprocessing
               -> base up to the layer -> [pool] -> head
    cached     activations at the cut -> reopened blocks -> [pool] -> head
    saved      activations at the cut -> reopened blocks -> [pool] -> head without dropout (the top:
               below the cut nothing changed, so the cut configuration's extractor gives its input)

Batch normalization stays in inference mode: its layers are made non-trainable, which in
Keras 3 also makes them use their moving statistics under `training=True`. That keeps
batch-norm-folded weights (../shared/weights' MobileNets) exact and the statistics intact.
"""
from __future__ import annotations

from dataclasses import dataclass

from extract import Backbone, build_section
from heads.errors import HeadError


@dataclass(frozen=True)
class ReopenPlan:
    """Which blocks are reopened and where the frozen part ends (`cut`: None when nothing stays frozen)."""

    backbone: str
    layer: str  # the feature layer the head was trained on
    blocks: int
    reopened: tuple[str, ...]  # block names, bottom to top
    cut: str | None  # the block end below the reopened blocks; None when every block is reopened


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

    def __init__(self, base, plan: ReopenPlan, preprocess_layer, pool: str, head_model, size: int):
        self.base, self.plan, self.head = base, plan, head_model
        self.cut_layer = plan.cut or base.layers[0].name  # every block reopened: the top starts at the input
        self.section = build_section(base, plan.cut, plan.layer, name="reopened")
        reopened = {id(layer) for layer in self.section.layers}
        for layer in base.layers:
            layer.trainable = id(layer) in reopened and not is_batch_norm(layer)
        head_model.trainable = True
        self.pool = pool_layer(pool)
        self.preprocess = preprocess_layer
        self.trunk = build_section(base, None, plan.layer, name=f"{plan.backbone}_to_{plan.layer}")
        self.size = size

    @property
    def trainable_layers(self) -> list[str]:
        """Names of the base's layers that train (weights only; BN and frozen layers excluded)."""
        return [layer.name for layer in self.base.layers if layer.trainable and layer.weights]

    @property
    def cut_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.section.input.shape[1:])

    def _top(self, head, name: str):
        import keras

        inputs = keras.Input(self.cut_shape, name="cut_activations")
        x = self.section(inputs)
        return keras.Model(inputs, head(self.pool(x) if self.pool else x), name=name)

    def cached_model(self):
        """Activations at the cut -> reopened blocks -> [pool] -> head (the cached path trains this)."""
        if self.plan.cut is None:
            raise HeadError("No frozen part is left below the reopened blocks, so there is nothing to cache.")
        return self._top(self.head, "reopened_and_head")

    def top_model(self):
        """What is saved: the cached model with the inference head (no Dropout), the same weights."""
        return self._top(inference_head(self.head), "finetuned_top")

    def full_model(self, augment: dict, seed: int):
        """Images -> online augmentation (active in training only) -> preprocessing -> base -> head (the full path)."""
        import keras

        inputs = keras.Input((self.size, self.size, 3), name="image")
        x = inputs
        for layer in augmentation_layers(augment, seed):
            x = layer(x)
        x = self.trunk(self.preprocess(x))
        return keras.Model(inputs, self.head(self.pool(x) if self.pool else x), name="augmented_finetune")


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
