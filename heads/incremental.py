"""Training and scoring scikit-learn heads from streamed batches, for features larger than memory.

A pipeline `reduce -> scale -> clf` streams when every step can learn batch by batch:
the reducer is stateless, StandardScaler has `partial_fit` (one pass for the
statistics), and the classifier has `partial_fit` (one call per batch, `max_iter`
passes over the data).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_class_weight

from heads.errors import HeadError

STREAM_BATCH = 512


def fit_pipeline_stream(pipeline: Pipeline, source, seed: int = 0, batch_size: int = STREAM_BATCH,
                        on_epoch: Callable[[int, dict], None] | None = None) -> Pipeline:
    reducer, scaler, clf = (step for _, step in pipeline.steps)
    if not hasattr(clf, "partial_fit"):
        raise HeadError(f"{type(clf).__name__} cannot learn from streamed batches (no partial_fit).")
    labels = np.asarray(source.labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise HeadError(f"The train split holds one class only ({classes[0]}); a head needs at least 2.")
    fitted_reducer = False
    for features, _ in source.batches(batch_size, None):  # pass 1: shapes and scaling statistics
        if not fitted_reducer:
            reducer.fit(features[:1])
            fitted_reducer = True
        if scaler != "passthrough":
            scaler.partial_fit(reducer.transform(features))
    if getattr(clf, "class_weight", None) == "balanced":  # partial_fit needs the weights up front
        weights = compute_class_weight("balanced", classes=classes, y=labels)
        clf.set_params(class_weight={c.item(): float(w) for c, w in zip(classes, weights)})
    epochs = int(getattr(clf, "max_iter", 1) or 1)
    for epoch in range(epochs):
        for features, batch_labels in source.batches(batch_size, seed + epoch):
            clf.partial_fit(_transform(pipeline, features), batch_labels, classes=classes)
        if on_epoch is not None:
            on_epoch(epoch + 1, {})
    return pipeline


def _transform(pipeline: Pipeline, features: np.ndarray) -> np.ndarray:
    reducer, scaler, _ = (step for _, step in pipeline.steps)
    reduced = reducer.transform(features)
    return reduced if scaler == "passthrough" else scaler.transform(reduced)


def predict_proba_stream(estimator, source, batch_size: int = STREAM_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) for every row of a source, in the source's order, batch by batch."""
    probas, labels = [], []
    for features, batch_labels in source.batches(batch_size, None):
        probas.append(estimator.predict_proba(features))
        labels.append(batch_labels)
    if not probas:
        return np.zeros((0, len(estimator.classes_))), np.zeros(0, dtype=np.int64)
    return np.concatenate(probas), np.concatenate(labels)
