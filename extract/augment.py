"""Fixed augmented views for the fine-tune cache: flip, rotation, zoom and shift, as the Keras
preprocessing layers draw them (RandomFlip("horizontal"), RandomRotation(rotation),
RandomZoom(zoom), RandomTranslation(shift, shift), fill_mode "reflect").

A view's transform is a pure function of (seed, view number, image content hash), so a view
is reproducible whatever the order, batching or engine that extracts it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    flip: bool = True
    rotation: float = 0.1  # fraction of a full turn, both ways (as keras RandomRotation's factor)
    zoom: float = 0.1  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.1  # fraction of the size, both axes
    seed: int = 0

    def for_view(self, view: int) -> dict:
        """The store configuration's `augment` field for one view."""
        if view < 0:
            raise ValueError(f"A view number is 0 or more. Received: {view}")
        return {"view": view, **asdict(self)}

    @classmethod
    def from_config(cls, augment: dict) -> tuple["AugmentSpec", int]:
        fields = {k: v for k, v in augment.items() if k != "view"}
        return cls(**fields), int(augment["view"])


def view_parameters(augment: dict, content_hash: str) -> np.ndarray:
    """[flip (0/1), angle (radians), scale, dx, dy (fractions of the size)] for one image and view."""
    spec, view = AugmentSpec.from_config(augment)
    rng = np.random.default_rng([spec.seed, view, int(content_hash[:16], 16)])
    flip = float(spec.flip and rng.random() < 0.5)
    angle = rng.uniform(-spec.rotation, spec.rotation) * 2 * math.pi
    scale = rng.uniform(1 - spec.zoom, 1 + spec.zoom)
    dx, dy = rng.uniform(-spec.shift, spec.shift, size=2)
    return np.array([flip, angle, scale, dx, dy], np.float32)


def transform_vector(params: np.ndarray, size: int) -> np.ndarray:
    """The 8-number projective transform (output pixel -> input pixel) of keras.ops.image.affine_transform."""
    flip, angle, scale, dx, dy = (float(p) for p in params)
    centre = (size - 1) / 2.0
    cos, sin = math.cos(angle), math.sin(angle)
    a = scale * np.array([[cos, -sin], [sin, cos]])
    f = np.array([[-1.0, 0.0], [0.0, 1.0]]) if flip else np.eye(2)
    f_offset = np.array([size - 1.0, 0.0]) if flip else np.zeros(2)
    m = a @ f
    offset = a @ f_offset + np.array([centre, centre]) - a @ np.array([centre, centre]) + size * np.array([dx, dy])
    return np.array([m[0, 0], m[0, 1], offset[0], m[1, 0], m[1, 1], offset[1], 0.0, 0.0], np.float32)


def apply_view(image, params, size: int):
    """Augment one resized image (H, W, 3) inside the tf.data pipeline."""
    import keras
    import tensorflow as tf

    vector = tf.numpy_function(lambda p: transform_vector(p, size), [params], tf.float32)
    vector.set_shape([8])
    out = keras.ops.image.affine_transform(image[None], vector[None], interpolation="bilinear",
                                           fill_mode="reflect")[0]
    return tf.ensure_shape(out, [size, size, 3])
