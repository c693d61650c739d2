"""Fixed augmented views for the fine-tune cache: flip, rotation, zoom and shift, as the Keras
preprocessing layers draw them (RandomFlip("horizontal"), RandomRotation(rotation),
RandomZoom(zoom), RandomTranslation(shift, shift), fill_mode "reflect").

A view's transform is a pure function of (seed, view number, image content hash), so a view
is reproducible whatever the order, batching or engine that extracts it.

Test-time views (FixedView, tta_views) are not drawn at all: each is one deterministic transform,
the same for every image (a horizontal flip, a centre or corner zoom), so averaging a head over
them never depends on chance. Both kinds of view are a configuration's `augment` field, applied
by the same affine transform in the input pipeline.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    """Random augmentation for `extract run --views`: each view draws one transform per image, fixed by
    the seed, the view number and the image's content (so a rerun computes the same features).

    Parameters
    ----------
    flip : bool, default True
        Flip horizontally with probability one half.
    rotation : float, default 0.1
        Rotation, as a fraction of a full turn, both ways (keras RandomRotation's factor).
    zoom : float, default 0.1
        Scale drawn in [1 - zoom, 1 + zoom].
    shift : float, default 0.1
        Shift as a fraction of the size, both axes.
    seed : int, default 0
        Seed of the draws.
    """
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


@dataclass(frozen=True)
class FixedView:
    """One test-time view: the same transform for every image.

    Parameters
    ----------
    name : str
        The view's name (flip, zoom, flip-zoom, zoom-top-left...).
    flip : bool, default False
        Flip horizontally.
    scale : float, default 1.0
        The input region's side, as a fraction of the image: below 1 zooms in.
    dx, dy : float, default 0.0
        Shift of the region's centre, fraction of the size (positive: right, down).
    """

    name: str
    flip: bool = False
    scale: float = 1.0  # the input region's side, as a fraction of the image: below 1 zooms in
    dx: float = 0.0  # shift of the region's centre, fraction of the size (positive: right)
    dy: float = 0.0  # (positive: down)

    def augment(self) -> dict:
        """The store configuration's `augment` field for this view."""
        return {"tta": self.name, "flip": self.flip, "scale": self.scale, "dx": self.dx, "dy": self.dy}

    @classmethod
    def from_config(cls, augment: dict) -> "FixedView":
        return cls(augment["tta"], bool(augment["flip"]), float(augment["scale"]), float(augment["dx"]),
                   float(augment["dy"]))

    def parameters(self) -> np.ndarray:
        return np.array([float(self.flip), 0.0, self.scale, self.dx, self.dy], np.float32)


ZOOM, CORNER = 0.875, 0.0625  # a 7/8 crop, at the centre or moved by 1/16 towards a corner
TTA_VIEWS = (
    FixedView("flip", flip=True),
    FixedView("zoom", scale=ZOOM), FixedView("flip-zoom", flip=True, scale=ZOOM),
    FixedView("zoom-top-left", scale=ZOOM, dx=-CORNER, dy=-CORNER),
    FixedView("zoom-top-right", scale=ZOOM, dx=CORNER, dy=-CORNER),
    FixedView("zoom-bottom-left", scale=ZOOM, dx=-CORNER, dy=CORNER),
    FixedView("zoom-bottom-right", scale=ZOOM, dx=CORNER, dy=CORNER),
)


def tta_views(count: int) -> list[FixedView]:
    """The first `count` test-time views (a horizontal flip first).

    Parameters
    ----------
    count : int
        0 to the number of views known (TTA_VIEWS).

    Returns
    -------
    list of FixedView

    Raises
    ------
    ValueError
        When `count` is out of range.
    """
    if not 0 <= count <= len(TTA_VIEWS):
        raise ValueError(f"Test-time views: 0 to {len(TTA_VIEWS)} ({', '.join(v.name for v in TTA_VIEWS)}). "
                         f"Received: {count}")
    return list(TTA_VIEWS[:count])


def view_parameters(augment: dict, content_hash: str) -> np.ndarray:
    """[flip (0/1), angle (radians), scale, dx, dy (fractions of the size)] for one image and view."""
    if "tta" in augment:
        return FixedView.from_config(augment).parameters()
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
