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

    def export_refusal(self) -> str | None:
        """Why this fitted head is no Keras layer (its kind's rule on its classifier's parameters), or None."""
        classifier = self.estimator[-1] if hasattr(self.estimator, "steps") else self.estimator
        return self.kind.export_refusal(classifier.get_params(deep=False))

    def to_keras(self, tensors: list):
        """The head as its kind's Keras layers on the tensor of its one input."""
        (x,) = tensors
        refusal = self.export_refusal()
        if refusal:
            raise HeadError(refusal)
        return self.kind.keras_form(self.estimator, x)
