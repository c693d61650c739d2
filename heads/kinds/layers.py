"""The tool's own Keras layers, for heads that are no stack of built-in layers (nearest neighbours).

Self-contained (Keras and NumPy only): the keras export of a head using one ships a copy of this
file as `bottleneck_layers.py`, and `import bottleneck_layers` before `keras.models.load_model`
is all a deployer needs. Each layer is registered as "bottleneck_cache>Name"; its arrays are
weights (saved in the model file), its settings its config. In a traced format (SavedModel,
TFLite, ONNX) the layer is plain ops (MatMul, TopK, Gather): no file is needed there.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

PACKAGE = "bottleneck_cache"


@keras.saving.register_keras_serializable(package=PACKAGE)
class NearestNeighbourVote(keras.layers.Layer):
    """k nearest training rows by cosine similarity, and their vote (uniform or 1 / distance).

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        The shapes of the training rows and of the vote table.
    k : int
        Neighbours that vote.
    weighting : str
        "uniform" (each neighbour 1) or "distance" (1 / cosine distance; an exact match alone
        votes, as scikit-learn's KNeighborsClassifier does).

    The training rows are stored unit-length and transposed (`rows`, (n_features, n_samples)), so the
    similarities of a batch are one matrix product; `votes` holds each row's one-hot class.
    """

    def __init__(self, n_samples: int, n_features: int, n_classes: int, k: int, weighting: str = "uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if weighting not in ("uniform", "distance"):
            raise ValueError(f"weighting is 'uniform' or 'distance'. Received: weighting={weighting!r}")
        self.n_samples, self.n_features, self.n_classes = int(n_samples), int(n_features), int(n_classes)
        self.k, self.weighting = int(k), weighting
        self.rows = self.add_weight(shape=(self.n_features, self.n_samples), initializer="zeros",
                                    trainable=False, name="rows", dtype="float32")
        self.votes = self.add_weight(shape=(self.n_samples, self.n_classes), initializer="zeros",
                                     trainable=False, name="votes", dtype="float32")

    def set_training_rows(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Store training rows (n_samples, n_features) and their class indices (0..n_classes-1)."""
        rows = np.asarray(rows, np.float64)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit = rows / np.where(norms == 0, 1.0, norms)  # a zero row stays zero (cosine similarity 0)
        self.rows.assign(unit.T.astype(np.float32))
        self.votes.assign(np.eye(self.n_classes, dtype=np.float32)[np.asarray(labels, np.int64)])

    def call(self, x):
        x = ops.cast(x, "float32")
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        unit = x / ops.maximum(norm, 1e-30)
        similarity, index = ops.top_k(ops.matmul(unit, self.rows), k=self.k)
        distance = ops.clip(1.0 - similarity, 0.0, 2.0)
        if self.weighting == "uniform":
            weight = ops.ones_like(distance)
        else:  # 1 / distance, or, where a row has exact matches, 1 for them and 0 for the others
            exact = ops.cast(distance <= 0.0, "float32")
            has_exact = ops.max(exact, axis=-1, keepdims=True)
            weight = has_exact * exact + (1.0 - has_exact) / ops.maximum(distance, 1e-30)
        votes = ops.take(self.votes, index, axis=0)  # (batch, k, classes)
        total = ops.sum(votes * ops.expand_dims(weight, -1), axis=1)
        return total / ops.maximum(ops.sum(total, axis=-1, keepdims=True), 1e-30)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_samples": self.n_samples, "n_features": self.n_features,
                "n_classes": self.n_classes, "k": self.k, "weighting": self.weighting}
