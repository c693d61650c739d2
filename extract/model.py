"""Building the frozen feature extractor: raw RGB (0-255) -> preprocessing -> base up to a layer -> pooling.

Preprocessing is a fixed per-pixel affine map on the channels (one Dense(3) layer), so the
same built-in layer serves extraction and the exported model, which then loads with plain
`keras.models.load_model` (no Lambda, no custom class).
"""
from __future__ import annotations

import socket
import urllib.error

import numpy as np

from extract.backbones import Backbone
from extract.errors import OptionError
from extract.weights import RANDOM_INIT_SEED, WEIGHTS_DIR_ENV, ResolvedWeights, WeightsError, tensors_sha256

RESIZE_MODES = ("squash", "crop", "pad")
POOLING_MODES = ("none", "avg", "max")
DTYPES = ("float16", "float32")

# preprocess_input(x, mode) as y = x @ W + b per pixel (x is RGB in 0..255).
_IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406])
_IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225])
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


def preprocess_affine(mode: str) -> tuple[np.ndarray, np.ndarray]:
    if mode == "caffe":  # RGB -> BGR, then subtract the BGR mean
        return np.eye(3)[::-1].copy(), -_CAFFE_MEAN_BGR
    if mode == "tf":  # scale to [-1, 1]
        return np.eye(3) / 127.5, -np.ones(3)
    if mode == "torch":  # scale to [0, 1], then normalise per channel
        return np.diag(1.0 / (255.0 * _IMAGENET_STD_RGB)), -_IMAGENET_MEAN_RGB / _IMAGENET_STD_RGB
    if mode == "none":
        return np.eye(3), np.zeros(3)
    raise OptionError(f"Unknown preprocessing mode {mode!r}. Allowed: caffe, tf, torch, none")


def preprocessing_layer(mode: str):
    import keras

    kernel, bias = preprocess_affine(mode)
    layer = keras.layers.Dense(3, name=f"preprocess_{mode}", trainable=False, dtype="float32")
    layer.build((None, None, None, 3))
    layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return layer


def resizing_layer(size: int, mode: str):
    import keras

    if mode not in RESIZE_MODES:
        raise OptionError(f"Unknown resize mode {mode!r}. Allowed: {', '.join(RESIZE_MODES)}")
    return keras.layers.Resizing(  # float32 whatever the global policy: resizing is not the base's compute
        size, size, interpolation="bilinear", antialias=True, dtype="float32",
        crop_to_aspect_ratio=mode == "crop", pad_to_aspect_ratio=mode == "pad", name=f"resize_{mode}",
    )


def build_base(backbone: Backbone, size: int, weights: ResolvedWeights):
    """The full convolutional base with its weights; returns (base, weights sha256)."""
    import keras

    if weights.source == "imagenet":
        kwargs = {"alpha": weights.alpha} if backbone.has_alpha else {}
        try:
            base = getattr(keras.applications, backbone.factory)(
                include_top=False, weights="imagenet", input_shape=(size, size, 3), **kwargs)
        except Exception as error:  # keras.utils.get_file raises a bare Exception for a failed fetch
            if not _download_failure(error):
                raise
            raise WeightsError(_offline_message(backbone, error)) from None
        return base, tensors_sha256(base)
    # Random init is seeded so that `--weights none` features are reproducible across runs.
    keras.utils.set_random_seed(RANDOM_INIT_SEED)
    base = backbone.build(size, weights.alpha)
    if weights.path is not None:
        try:
            base.load_weights(str(weights.path))
        except Exception as error:  # Keras raises ValueError/KeyError/OSError by mismatch kind
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            alpha = f" alpha={weights.alpha}" if backbone.has_alpha else ""
            raise WeightsError(
                f"Weights file does not fit backbone {backbone.name}{alpha}: {detail}. Received: {weights.path}"
            ) from None
    return base, weights.sha256


def _download_failure(error: BaseException) -> bool:
    """Whether Keras failed to fetch its weights file (no network, a proxy, a server error)."""
    while error is not None:
        if isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror)) \
                or "URL fetch failure" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _offline_message(backbone: Backbone, error: BaseException) -> str:
    reason = " ".join(str(error).split())[:300]
    return (f"Could not download Keras's ImageNet weights of {backbone.name} ({reason}). Offline, give a weights "
            f"file: --weights PATH (a Keras no-top .h5 file), or set {WEIGHTS_DIR_ENV} to a folder of such files "
            f"with their MANIFEST.json (as ../shared/weights), or put Keras's file in $KERAS_HOME/models. "
            f"Received: --weights imagenet")


def build_feature_model(backbone: Backbone, base, preprocess: str, layer: str, pool: str):
    import keras

    if pool not in POOLING_MODES:
        raise OptionError(f"Unknown pooling {pool!r}. Allowed: {', '.join(POOLING_MODES)}")
    names = {l.name for l in base.layers}
    if layer not in names:
        ends = ", ".join(end for _, end in backbone.blocks)
        raise OptionError(f"Backbone {backbone.name} has no layer {layer!r}. Block ends: {ends}. Received: --layer {layer}")
    trunk = keras.Model(base.input, base.get_layer(layer).output, name=f"{backbone.name}_to_{layer}")
    trunk.trainable = False
    size = base.input.shape[1]
    inputs = keras.Input((size, size, 3), name="image")
    x = trunk(preprocessing_layer(preprocess)(inputs), training=False)
    if pool == "avg":  # pooled in float32 (a float16 base output is cast up first)
        x = keras.layers.GlobalAveragePooling2D(name="pool_avg", dtype="float32")(x)
    elif pool == "max":
        x = keras.layers.GlobalMaxPooling2D(name="pool_max", dtype="float32")(x)
    return keras.Model(inputs, x, name="feature_extractor")


def build_section(base, start: str | None, end: str, name: str | None = None):
    """The part of a base between two layers' outputs (from its input when `start` is None).

    Fine-tuning trains the blocks above a cut on activations cached at the cut: this is that
    part. It shares the base's layers, so training it trains the base, and works for residual
    graphs as long as no connection crosses the cut (block ends are chosen so none does).

    Parameters
    ----------
    base : keras.Model
        The convolutional base.
    start : str or None
        The layer whose output is the section's input; None: the base's input.
    end : str
        The layer whose output is the section's output.
    name : str, optional
        The model's name (default `<start>_to_<end>`).

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        When the base has no such layer.
    """
    import keras

    names = {layer.name for layer in base.layers}
    for layer in (start, end):
        if layer is not None and layer not in names:
            raise ValueError(f"The base {base.name} has no layer {layer!r}.")
    inputs = base.input if start is None else base.get_layer(start).output
    return keras.Model(inputs, base.get_layer(end).output, name=name or f"{start or 'input'}_to_{end}")
