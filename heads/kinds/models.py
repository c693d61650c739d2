"""A fitted head as eval, predict and export use it, whatever its kind.

A head model takes its input as a list of arrays, one per store configuration the head reads
(heads.inputs), and answers three things: its classes (indices into the head's class
names), probabilities, and the same computation as Keras layers for an exported model.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from sklearn.base import clone

from heads.errors import HeadError
from heads.kinds import dense_model, linear

PREDICT_CHUNK = 2048


class HeadModel(Protocol):
    classes_: np.ndarray

    def predict_proba(self, parts: Sequence[np.ndarray]) -> np.ndarray: ...

    def to_keras(self, tensors: list):
        """Keras tensors of the inputs (one per configuration) -> a tensor of class probabilities."""

    # Optional: `fit_clone(parts, labels)`, the same head unfitted and fitted again on other rows (the
    # out-of-fold probabilities an ensemble stacks); kinds that cannot be refitted cheaply have none.


class EstimatorModel:
    """A registry estimator (a scikit-learn pipeline, or the dense Keras head) on one configuration."""

    def __init__(self, estimator, kind):
        self.estimator, self.kind = estimator, kind
        self.classes_ = np.asarray(estimator.classes_)

    def predict_proba(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        (features,) = parts
        chunks = [self.estimator.predict_proba(features[i:i + PREDICT_CHUNK])
                  for i in range(0, len(features), PREDICT_CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes_)))

    def fit_clone(self, parts: Sequence[np.ndarray], labels: np.ndarray) -> "EstimatorModel":
        (features,) = parts
        return EstimatorModel(clone(self.estimator).fit(features, labels), self.kind)

    def to_keras(self, tensors: list):
        (x,) = tensors
        if self.kind.keras:
            return dense_model.export_layers(self.estimator.model_, x)
        if self.kind.linear:
            return linear.export_layers(self.estimator, x, len(x.shape) - 1)
        raise HeadError(f"A {self.kind.name} head is not a Keras layer.")
