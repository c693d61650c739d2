"""The finetune kind: its parameters (the recipe `heads finetune` follows) and its fitted model.

A fine-tuned head reads the plain activations at its cut (the layer below the reopened
blocks: nothing under it was trained, so the store's activations there, or the extractor of
that configuration, give its input exactly). Its model is the rest: the reopened blocks,
the pooling and the dense head, saved as one Keras model from cut activations to output.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator

from heads.errors import HeadError

PATHS = ("cached", "full")
STOP_ON = ("holdout", "validation")
DEFAULT_VIEWS = 5
CHUNK = 64


class FineTuneRecipe(BaseEstimator):
    """The parameters of a fine-tuning (scikit-learn style: stored as given, checked by `checked`)."""

    def __init__(self, blocks: int = 1, path: str = "cached", views: int | None = None, epochs: int = 30,
                 batch_size: int = 32, learning_rate: float = 1e-4, momentum: float = 0.9, patience: int = 5,
                 stop_on: str = "holdout", holdout_fraction: float = 0.1, flip: bool = True, rotation: float = 0.1,
                 zoom: float = 0.1, shift: float = 0.1, seed: int = 0):
        self.blocks = blocks
        self.path = path
        self.views = views
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.patience = patience
        self.stop_on = stop_on
        self.holdout_fraction = holdout_fraction
        self.flip = flip
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.seed = seed

    def checked(self) -> "FineTuneRecipe":
        """A copy with every value checked and `views` resolved (0 on the full path); one line per refusal."""
        path = getattr(self.path, "value", self.path)
        if path not in PATHS:
            raise HeadError(f"Unknown path {path!r}. Allowed: {', '.join(PATHS)}")
        if path == "full" and self.views is not None:
            raise HeadError(f"--views caches fixed augmented views for --path cached; --path full augments online. "
                            f"Received: --path full --views {self.views}")
        views = (DEFAULT_VIEWS if self.views is None else self.views) if path == "cached" else 0
        for name, value, low in (("views", views, 1 if path == "cached" else 0), ("epochs", self.epochs, 1),
                                 ("batch-size", self.batch_size, 1), ("patience", self.patience, 0),
                                 ("blocks", self.blocks, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise HeadError(f"--{name} must be an integer of at least {low}. Received: --{name} {value!r}")
        if not self.learning_rate > 0:
            raise HeadError(f"--learning-rate must be positive. Received: {self.learning_rate!r}")
        if not 0 <= self.momentum < 1:
            raise HeadError(f"--momentum must be in [0, 1). Received: {self.momentum!r}")
        stop_on = getattr(self.stop_on, "value", self.stop_on)
        if stop_on not in STOP_ON:
            raise HeadError(f"Unknown --stop-on {stop_on!r}. Allowed: {', '.join(STOP_ON)}")
        if stop_on == "holdout" and self.patience and not 0 < self.holdout_fraction < 0.5:
            raise HeadError(f"--holdout-fraction must be in (0, 0.5). Received: {self.holdout_fraction!r}")
        for name in ("rotation", "zoom", "shift"):
            if not 0 <= getattr(self, name) < 1:
                raise HeadError(f"--{name} must be in [0, 1). Received: --{name} {getattr(self, name)!r}")
        return FineTuneRecipe(**{**self.get_params(), "path": path, "views": int(views), "stop_on": stop_on})

    @property
    def augment(self) -> dict:
        return {"flip": bool(self.flip), "rotation": float(self.rotation), "zoom": float(self.zoom),
                "shift": float(self.shift), "seed": int(self.seed)}


def probability_columns(raw) -> np.ndarray:
    """A model's output as one probability per class (a sigmoid unit becomes two columns)."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape[1] == 1:
        return np.hstack([1.0 - raw, raw])
    return raw / raw.sum(axis=1, keepdims=True)


class FineTunedTop:
    """The trained part of a fine-tuned head: cut activations -> reopened blocks -> [pool] -> dense head."""

    def __init__(self, model, classes):
        self.model = model
        self.classes_ = np.asarray(classes)

    @classmethod
    def load(cls, model_file: Path, record: dict) -> "FineTunedTop":
        import keras

        return cls(keras.models.load_model(model_file, compile=False), record["classes"])

    def predict_proba(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        (activations,) = parts
        if len(activations) == 0:
            return np.zeros((0, len(self.classes_)))
        raw = [np.asarray(self.model(np.asarray(activations[i:i + CHUNK], np.float32), training=False))
               for i in range(0, len(activations), CHUNK)]
        return probability_columns(np.concatenate(raw))

    def to_keras(self, tensors: list):
        import keras

        (x,) = tensors
        x = self.model(x)
        if x.shape[-1] == 1:  # [1 - p, p] through a fixed Dense(2): exact, and a built-in layer
            columns = keras.layers.Dense(2, name="probabilities", trainable=False)
            x = columns(x)
            columns.set_weights([np.array([[-1.0, 1.0]], np.float32), np.array([1.0, 0.0], np.float32)])
        return x
