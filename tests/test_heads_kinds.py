"""Every kind of head on small synthetic features, binary and multi-class; the registry's refusals."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score

from heads.errors import HeadError
from heads.kinds.registry import FITTED_KINDS, KINDS, get_kind, make_head, parse_param, search_space
from tests.test_heads_support import features

FAST = {"dense": {"epochs": 30, "hidden": (16,), "batch_size": 16, "patience": 0, "learning_rate": 3e-3},
        "sgd": {"max_iter": 50}, "forest": {"n_estimators": 30}}


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", sorted(FITTED_KINDS))
def test_every_kind_learns_separable_features(kind, n_classes):
    X, y = features(n_per_class=30, n_classes=n_classes, seed=n_classes)
    X_test, y_test = features(n_per_class=15, n_classes=n_classes, seed=n_classes)  # same centres, new noise
    X_test, y_test = X_test[:], y_test[:]
    head = make_head(kind, FAST.get(kind), reduce="flatten", seed=0).fit(X, y)
    proba = head.predict_proba(X_test)
    assert proba.shape == (len(y_test), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert list(head.classes_) == list(range(n_classes))
    assert np.mean(head.predict(X_test) == y_test) >= 0.9


@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_pooling_reductions_work_for_sklearn_and_dense(reduce):
    X, y = features(n_per_class=25, n_classes=2, seed=5)
    for kind in ("logreg", "dense"):
        head = make_head(kind, FAST.get(kind), reduce=reduce, seed=0).fit(X, y)
        assert head.predict_proba(X).shape == (50, 2)


def test_reduce_pooling_refused_on_pooled_features():
    X, y = features(n_per_class=10, shape=(6,))
    with pytest.raises(ValueError, match="pools a spatial grid"):
        make_head("logreg", reduce="avg").fit(X, y)


def test_dense_head_works_with_cross_val_score():
    X, y = features(n_per_class=20, n_classes=2, seed=3)
    scores = cross_val_score(make_head("dense", FAST["dense"]), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() >= 0.9


def test_class_weight_balanced_shifts_predictions_towards_the_rare_class():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (90, 4)), rng.normal(1.0, 1, (10, 4))])
    y = np.array([0] * 90 + [1] * 10)
    plain = make_head("logreg", {"C": 1.0}).fit(X, y)
    balanced = make_head("logreg", {"C": 1.0}, class_weight="balanced").fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(HeadError, match="Unknown kind 'tree'. Known: dense, logreg, svm, knn, forest, sgd"):
        get_kind("tree")


def test_parameter_refusals():
    with pytest.raises(HeadError, match="Kind logreg has no parameter 'gamma'"):
        make_head("logreg", {"gamma": 1})
    with pytest.raises(HeadError, match="with --seed"):
        make_head("logreg", {"random_state": 3})
    with pytest.raises(HeadError, match="Kind knn cannot weight classes"):
        make_head("knn", class_weight="balanced")
    with pytest.raises(HeadError, match="Unknown reduce mode 'mean'"):
        make_head("logreg", reduce="mean")


def test_bad_parameter_values_are_refused_at_fit():
    X, y = features(n_per_class=5)
    with pytest.raises(ValueError, match="dropout must be in"):
        make_head("dense", {"dropout": 1.5}).fit(X, y)
    with pytest.raises(ValueError, match="Unknown SVM kernel"):
        make_head("svm", {"kernel": "poly"}).fit(X, y)


def test_seed_makes_dense_fits_repeatable():
    X, y = features(n_per_class=20, seed=7)
    a = make_head("dense", FAST["dense"], seed=4).fit(X, y).predict_proba(X)
    b = make_head("dense", FAST["dense"], seed=4).fit(X, y).predict_proba(X)
    c = make_head("dense", FAST["dense"], seed=5).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(a - c).max() > 1e-4


def test_parse_param_reads_json_and_python_literals():
    assert parse_param("C=0.1") == ("C", 0.1)
    assert parse_param("hidden=(64, 32)") == ("hidden", (64, 32))
    assert parse_param("kernel=linear") == ("kernel", "linear")
    assert parse_param("gamma=None") == ("gamma", None)
    with pytest.raises(HeadError, match="NAME=VALUE"):
        parse_param("C")


def test_search_space_drops_what_the_user_fixed():
    assert search_space("logreg", {}) == [{"clf__C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]}]
    rbf_only = search_space("svm", {"kernel": "rbf"})
    assert rbf_only == [{"clf__C": [0.3, 1.0, 3.0, 10.0], "clf__gamma": ["scale"]}]
    assert "dropout" not in search_space("dense", {"dropout": 0.2})[0]
    with pytest.raises(HeadError, match="Nothing left to search"):
        search_space("logreg", {"C": 1.0})


def test_finetune_is_a_kind_with_its_parameters_that_starts_from_a_dense_head():
    spec = KINDS["finetune"]
    assert spec.starts_from == "dense" and spec.exportable and "finetune" not in FITTED_KINDS
    assert {"blocks", "path", "views", "epochs", "stop_on", "holdout_fraction", "learning_rate"} <= set(spec.parameters())
    with pytest.raises(HeadError, match="A finetune head starts from a dense head: `heads finetune --head"):
        make_head("finetune")
