"""The backbone registry: every convolutional base the tool knows, from keras.applications.

Each entry says how to build the base, its default input size, the preprocessing
its official ImageNet weights expect, and its block structure: the layer that
ends each block, in order, so `--layer` can name an intermediate output and
fine-tuning can reopen the top blocks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from extract.errors import ExtractError


@dataclass(frozen=True)
class Backbone:
    """A `keras.applications` architecture as the registry knows it (`extract backbones` lists them).

    Parameters
    ----------
    name : str
        Its name on the command line (vgg16, mobilenet_v2...).
    factory : str
        The attribute of keras.applications that builds it.
    default_size : int
        The input size it was trained at.
    min_size : int
        The smallest input size it accepts.
    preprocess : str
        Its ImageNet preprocessing: caffe, tf, torch or none (the model rescales itself).
    blocks : tuple of (str, str)
        (block name, layer that ends it), bottom to top: the layers features may be read from.
    has_alpha : bool, default False
        Takes a width multiplier (MobileNets).
    xla_on_cpu : bool, default False
        XLA compilation is faster on CPUs for it (measured, not guessed).
    """
    name: str
    factory: str  # attribute of keras.applications
    default_size: int
    min_size: int
    preprocess: str  # caffe | tf | torch | none (the model rescales itself)
    blocks: tuple[tuple[str, str], ...]  # (block name, layer that ends it), bottom to top
    has_alpha: bool = False
    # XLA compiles plain conv stacks well (VGG16: 5-7 -> 9 images/s at 150 px on 2 CPU cores)
    # but made depthwise-conv nets (MobileNetV2) many times slower there: measured, not guessed.
    xla_on_cpu: bool = False

    @property
    def default_layer(self) -> str:
        return self.blocks[-1][1]

    def block_of(self, layer: str) -> str | None:
        return next((block for block, end in self.blocks if end == layer), None)

    def build(self, size: int, alpha: float | None = None) -> Callable:
        import keras

        kwargs = {"include_top": False, "weights": None, "input_shape": (size, size, 3)}
        if self.has_alpha:
            kwargs["alpha"] = 1.0 if alpha is None else alpha
        return getattr(keras.applications, self.factory)(**kwargs)


def _numbered(prefix: str, end: str, numbers) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{n}", end.format(n=n)) for n in numbers)


_VGG_BLOCKS = _numbered("block", "block{n}_pool", range(1, 6))

BACKBONES: dict[str, Backbone] = {b.name: b for b in [
    Backbone("vgg16", "VGG16", 224, 32, "caffe", _VGG_BLOCKS, xla_on_cpu=True),
    Backbone("vgg19", "VGG19", 224, 32, "caffe", _VGG_BLOCKS, xla_on_cpu=True),
    Backbone("resnet50", "ResNet50", 224, 32, "caffe", (
        ("conv1", "pool1_pool"), ("conv2", "conv2_block3_out"), ("conv3", "conv3_block4_out"),
        ("conv4", "conv4_block6_out"), ("conv5", "conv5_block3_out"))),
    Backbone("inception_v3", "InceptionV3", 299, 75, "tf", _numbered("mixed", "mixed{n}", range(11))),
    # Xception's block outputs are unnamed `add` layers; the ReLU that opens the next block
    # is the first named layer holding that output. The exit flow (13-14) is one block.
    Backbone("xception", "Xception", 299, 71, "tf",
             (("block1", "block1_conv2_act"),)
             + tuple((f"block{n}", f"block{n + 1}_sepconv1_act") for n in range(2, 13))
             + (("block14", "block14_sepconv2_act"),)),
    Backbone("mobilenet", "MobileNet", 224, 32, "tf",
             _numbered("block", "conv_pw_{n}_relu", range(1, 14)), has_alpha=True),
    Backbone("mobilenet_v2", "MobileNetV2", 224, 32, "tf", (
        ("block0", "expanded_conv_project_BN"), ("block1", "block_1_project_BN"),
        ("block2", "block_2_add"), ("block3", "block_3_project_BN"), ("block4", "block_4_add"),
        ("block5", "block_5_add"), ("block6", "block_6_project_BN"), ("block7", "block_7_add"),
        ("block8", "block_8_add"), ("block9", "block_9_add"), ("block10", "block_10_project_BN"),
        ("block11", "block_11_add"), ("block12", "block_12_add"), ("block13", "block_13_project_BN"),
        ("block14", "block_14_add"), ("block15", "block_15_add"), ("block16", "block_16_project_BN"),
        ("top", "out_relu")), has_alpha=True),
    Backbone("densenet121", "DenseNet121", 224, 32, "torch", (
        ("conv1", "pool1"), ("dense1", "pool2_pool"), ("dense2", "pool3_pool"),
        ("dense3", "pool4_pool"), ("dense4", "relu"))),
    Backbone("efficientnet_b0", "EfficientNetB0", 224, 32, "none", (
        ("block1", "block1a_project_bn"), ("block2", "block2b_add"), ("block3", "block3b_add"),
        ("block4", "block4c_add"), ("block5", "block5c_add"), ("block6", "block6d_add"),
        ("block7", "block7a_project_bn"), ("top", "top_activation"))),
]}


class BackboneError(ExtractError):
    pass


def get_backbone(name: str) -> Backbone:
    """A backbone of the registry by name.

    Parameters
    ----------
    name : str
        Its name (`extract backbones` lists them).

    Returns
    -------
    Backbone

    Raises
    ------
    ExtractError
        When no backbone has that name (the message lists the known ones).
    """
    try:
        return BACKBONES[name]
    except KeyError:
        raise BackboneError(
            f"Unknown backbone {name!r}. Known: {', '.join(BACKBONES)}"
        ) from None
