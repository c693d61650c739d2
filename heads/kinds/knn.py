"""The knn kind as Keras layers: cosine nearest neighbours is a matrix product, a top-k and a vote.

    probabilities = vote(top_k(unit(reduce(features)) @ unit(train rows).T))

The training rows (after the pipeline's reduction; the knn kind does not standardise) are kept
in the exported model as a constant matrix of unit rows, with their classes; the vote weighs
each of the k nearest by 1 or by 1 / cosine distance as scikit-learn's KNeighborsClassifier
does (heads.kinds.layers.NearestNeighbourVote).
"""
from __future__ import annotations

import numpy as np

from heads.errors import HeadError
from heads.kinds.reduce import keras_reduction

WEIGHTINGS = ("uniform", "distance")


def export_refusal(params: dict) -> str | None:
    """Why a knn head with these parameters is no Keras layer here (None: it is one)."""
    if params.get("metric", "cosine") != "cosine":
        return f"A knn head exports with metric='cosine' only. Received: metric={params.get('metric')!r}"
    if params.get("weights", "uniform") not in WEIGHTINGS:
        return (f"A knn head exports with weights 'uniform' or 'distance'. "
                f"Received: weights={params.get('weights')!r}")
    return None


def export_layers(pipeline, x):
    """A fitted knn pipeline (reduce -> passthrough -> KNeighborsClassifier) applied to a Keras tensor."""
    from heads.kinds.layers import NearestNeighbourVote

    reducer, scaler, clf = (step for _, step in pipeline.steps)
    refusal = export_refusal(clf.get_params(deep=False))
    if refusal:
        raise HeadError(refusal)
    if scaler != "passthrough":
        raise HeadError("A knn head exports without a scaler (cosine distance needs none).")
    x = keras_reduction(x, reducer.mode)
    rows = np.asarray(clf._fit_X, np.float32)
    layer = NearestNeighbourVote(len(rows), rows.shape[1], len(clf.classes_), clf.n_neighbors, clf.weights,
                                 name="head_knn")
    layer.build((None, rows.shape[1]))
    layer.set_training_rows(rows, clf._y)
    return layer(x)
