"""The traced inference function every graph format is written from.

Two Keras 3 behaviours make `Model.export` unsafe for the tool's chain as it stands:
- a `keras.layers.Resizing` layer called without `training=` resolves its own default
  (`training=True`) into the call context, so every BatchNormalization after it runs with
  batch statistics; `Model.export` traces `model(x)` without `training=`, which writes a
  SavedModel (and ONNX file) that normalises with the batch. Every trace here passes
  `training=False` explicitly.
- the antialiased resize the tool extracts with is TensorFlow's ScaleAndTranslate op, which
  neither TFLite's built-in ops nor tf2onnx know. The exported formats take images of the
  recorded size, where that resize is the identity, so it is replaced by an Identity layer.
"""
from __future__ import annotations

import numpy as np

OUTPUT_NAME = "probabilities"
INPUT_NAME = "image"


def without_identity_resizing(model, size: int):
    """The model (weights shared) with its top-level Resizing layers to `size` x `size` replaced by
    Identity: on inputs of that size they change nothing, and their op converts nowhere."""
    import keras

    def same_size(layer) -> bool:
        return isinstance(layer, keras.layers.Resizing) and (layer.height, layer.width) == (size, size)

    if not any(same_size(layer) for layer in model.layers):
        return model
    return keras.models.clone_model(
        model, clone_function=lambda layer: keras.layers.Identity(name=layer.name) if same_size(layer) else layer)


def image_spec(size: int, dtype: str = "float32"):
    import tensorflow as tf

    return tf.TensorSpec([None, size, size, 3], getattr(tf, dtype), name=INPUT_NAME)


def serving_functions(model, size: int):
    """(the traced Keras model, {"serving_default": float32 images -> {"probabilities"}, "serving_uint8":
    the same from uint8}). The uint8 function calls the float32 one: the network is traced once."""
    import tensorflow as tf

    inference = without_identity_resizing(model, size)

    @tf.function(input_signature=[image_spec(size)], autograph=False)
    def serving_default(image):
        return {OUTPUT_NAME: inference(image, training=False)}

    @tf.function(input_signature=[image_spec(size, "uint8")], autograph=False)
    def serving_uint8(image):
        return serving_default(tf.cast(image, tf.float32))

    return inference, {"serving_default": serving_default, "serving_uint8": serving_uint8}


def inference_model(model, size: int):
    """A Keras model whose plain call is the inference call (for exporters that call `model(x)`)."""
    import keras

    inference = without_identity_resizing(model, size)

    class Inference(keras.Model):
        def __init__(self, inner):
            super().__init__(name=f"{inner.name}_inference")
            self.inner = inner

        def call(self, image):
            return self.inner(image, training=False)

    wrapper = Inference(inference)
    wrapper(np.zeros((1, size, size, 3), np.float32))  # built and called: exporters need both
    return wrapper


def as_uint8(images: np.ndarray) -> np.ndarray:
    """The images as a deployer's uint8 batch (round, clip to 0..255)."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)
