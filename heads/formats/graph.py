"""The traced inference function every graph format is written from.

`Model.export` traces `model(x)` without `training=`; a layer that resolves its own default
(`training=True`, as Keras 3's preprocessing layers do) would then put every BatchNormalization
after it in training mode (normalising with the batch) in the written SavedModel or ONNX file.
Every trace here passes `training=False` explicitly, whatever the model holds.
"""
from __future__ import annotations

import numpy as np

OUTPUT_NAME = "probabilities"
INPUT_NAME = "image"


def image_spec(size: int, dtype: str = "float32"):
    import tensorflow as tf

    return tf.TensorSpec([None, size, size, 3], getattr(tf, dtype), name=INPUT_NAME)


def serving_functions(model, size: int) -> dict:
    """{"serving_default": float32 images -> {"probabilities"}, "serving_uint8": the same from uint8}.
    The uint8 function calls the float32 one: the network is traced once."""
    import tensorflow as tf

    @tf.function(input_signature=[image_spec(size)], autograph=False)
    def serving_default(image):
        return {OUTPUT_NAME: model(image, training=False)}

    @tf.function(input_signature=[image_spec(size, "uint8")], autograph=False)
    def serving_uint8(image):
        return serving_default(tf.cast(image, tf.float32))

    return {"serving_default": serving_default, "serving_uint8": serving_uint8}


def inference_model(model, size: int):
    """A Keras model whose plain call is the inference call (for exporters that call `model(x)`)."""
    import keras

    class Inference(keras.Model):
        def __init__(self, inner):
            super().__init__(name=f"{inner.name}_inference")
            self.inner = inner

        def call(self, image):
            return self.inner(image, training=False)

    wrapper = Inference(model)
    wrapper(np.zeros((1, size, size, 3), np.float32))  # built and called: exporters need both
    return wrapper


def as_uint8(images: np.ndarray) -> np.ndarray:
    """The images as a deployer's uint8 batch (round, clip to 0..255)."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)
