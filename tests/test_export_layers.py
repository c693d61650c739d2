"""The kinds that are no stack of built-in layers (knn, RBF svm, forest) as the tool's own Keras layers:
the same probabilities as scikit-learn, a model.keras that reads back, and `--kind auto` among exportable
candidates (each kind's export rule, heads.kinds.exportable)."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from heads.kinds import forest, knn, linear, rbf
from heads.kinds.exportable import exportable_grids
from heads.kinds.registry import KINDS, get_kind, make_head
from tests.test_heads_support import features

# float32 in Keras, float64 (knn: float32) in scikit-learn: measured at most 1.4e-7
EXACT = 1e-5


def _as_keras(head, form, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, form(head, inputs))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind,params,form", [
    ("knn", {"weights": "uniform", "n_neighbors": 5}, knn.export_layers),
    ("knn", {"weights": "distance", "n_neighbors": 7}, knn.export_layers),
    ("svm", {"kernel": "rbf"}, rbf.export_layers),
    ("svm", {"kernel": "rbf", "C": 10.0}, rbf.export_layers),
    ("forest", {"n_estimators": 15, "min_samples_leaf": 2}, forest.export_layers),
])
def test_layers_give_scikit_learns_probabilities(kind, params, form, n_classes, tmp_path):
    X, y = features(n_per_class=25, n_classes=n_classes, seed=n_classes, spread=1.5)
    head = make_head(kind, params, seed=0).fit(X, y)
    model = _as_keras(head, form, X.shape[1:])
    unseen, _ = features(n_per_class=12, n_classes=n_classes, seed=n_classes, spread=2.5)
    for rows in (unseen, X[:10]):  # new rows, and training rows themselves (knn: exact matches)
        got = keras.ops.convert_to_numpy(model(rows.astype(np.float32)))
        np.testing.assert_allclose(got, head.predict_proba(rows), atol=EXACT)
    model.save(tmp_path / "model.keras")  # the layers are registered: plain load_model reads them back
    again = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(unseen.astype(np.float32))),
                               head.predict_proba(unseen), atol=EXACT)


def test_rbf_decision_functions_are_libsvm_s_one_vs_one_layout():
    X, y = features(n_per_class=20, n_classes=4, seed=9, spread=1.5)
    head = make_head("svm", {"kernel": "rbf"}, seed=0).fit(X, y)
    svc = head[-1].svm_
    rows = head[:-1].transform(X)
    coefficients, intercepts = rbf.ovo_coefficients(svc)
    kernel = np.exp(-svc._gamma * ((rows[:, None, :] - svc.support_vectors_[None]) ** 2).sum(-1))
    svc.decision_function_shape = "ovo"
    np.testing.assert_allclose(kernel @ coefficients + intercepts, svc.decision_function(rows), atol=1e-9)


def test_a_knn_head_with_another_metric_is_refused_by_its_own_rule():
    X, y = features(n_per_class=10)
    head = make_head("knn", {"metric": "euclidean"}).fit(X, y)
    assert "metric='cosine'" in get_kind("knn").export_refusal(head[-1].get_params())
    with pytest.raises(ValueError, match="exports with metric='cosine' only"):
        _as_keras(head, knn.export_layers, X.shape[1:])


def test_exportable_grids_keep_whole_sub_grids_and_split_mixed_ones():
    grids = [{"clf__loss": ["log_loss", "hinge"], "clf__alpha": [0.1, 1.0]}, {"clf__alpha": [0.01]}]
    kept, reasons = exportable_grids("sgd", make_head("sgd"), grids)
    assert kept == [{"clf__alpha": [0.1], "clf__loss": ["log_loss"]}, {"clf__alpha": [1.0], "clf__loss": ["log_loss"]},
                    {"clf__alpha": [0.01]}]
    assert reasons == ["sgd: 2 candidates left out (An sgd head exports only with loss='log_loss' (its "
                       "probabilities are then logistic). Received: loss='hinge')"]


def test_kind_auto_chooses_among_exportable_candidates_unless_told(monkeypatch):
    """With a kind whose candidates stay unexportable (here the svm kind as it was before its RBF form:
    kernel='linear' only), auto searches only the others and lists what it left out; told otherwise, all."""
    from heads.kinds import selection

    monkeypatch.setitem(KINDS, "svm", dataclasses.replace(KINDS["svm"], refuse_export=linear.svm_refusal))
    monkeypatch.setattr(selection, "AUTO_KINDS", ("svm", "logreg"))
    X, y = features(n_per_class=15, seed=4)
    kind, estimator, record = selection.select_kind("flatten", None, 0, 3, X, y)
    assert record["not_exportable"] == ["svm: 4 candidates left out (An svm head exports only with kernel='linear' "
                                        "(an RBF SVM is no Dense layer). Received: kernel='rbf')"]
    svm_tried = [c["params"] for c in record["by_kind"]["svm"]["candidates"]]
    assert len(svm_tried) == 4 and all(p["clf__kernel"] == "linear" for p in svm_tried)
    _, _, everything = selection.select_kind("flatten", None, 0, 3, X, y, exportable_only=False)
    assert everything["not_exportable"] == [] and len(everything["by_kind"]["svm"]["candidates"]) == 8
