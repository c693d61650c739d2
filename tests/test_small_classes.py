"""Ensembles and test-time-view scoring with classes smaller than the folds (heads.kinds.folds): no
refusal, the small classes kept in every training fold and named in one note; and every class with a
single image, where nothing can be held out, said as such."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from heads.ensemble import ensemble_heads
from heads.evaluate import eval_head
from heads.fit import fit_head
from heads.kinds.folds import NO_FOLDS, SMALL_KEPT, cv_folds
from heads.kinds.models import EstimatorModel
from heads.kinds.registry import get_kind, make_head
from heads.kinds.selection import search_kind, selection_notes
from heads.tta import cross_validated
from tests.test_heads_support import TINY, TINY_RUN, features, image_folder, tiny_weights


@pytest.fixture(scope="module")
def small_class_store(tmp_path_factory):
    """birds, cats, dogs: 12 train images each, but birds only 2 (fewer than 3 folds)."""
    import dataclasses

    from extract.api import run_extraction

    base = tmp_path_factory.mktemp("small-class")
    data = image_folder(base / "data", ("birds", "cats", "dogs"), seed=7)
    for path in sorted((data / "train" / "birds").iterdir())[2:]:
        path.unlink()
    weights = tiny_weights(base / "tiny.weights.h5")
    store = base / "store"
    run_extraction(data, store, dataclasses.replace(TINY, weights=str(weights)), TINY_RUN)
    return store


def test_stacking_keeps_a_small_class_in_every_training_fold_and_names_it(small_class_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(small_class_store, store)
    a = fit_head(store, "logreg", out=tmp_path / "a")
    b = fit_head(store, "knn", params={"n_neighbors": 3}, out=tmp_path / "b")
    result = ensemble_heads([a.folder, b.folder], method="stack", cv=3, out=tmp_path / "stack")
    search = result.record["search"]
    birds = a.record["columns"].index("birds")
    assert search["cv"] == 3 and search["cv_scheme"] == SMALL_KEPT and search["kept_in_training"] == [birds]
    assert result.record["selection"]["on"] == "train split, 3-fold out-of-fold probabilities"
    [note] = [n for n in result.notes if "never held out" in n]
    assert note.startswith("1 classes had fewer than 3 train images") and "(birds)" in note
    assert len(search["member_oof_accuracy"]) == 2 and all(0 <= a <= 1 for a in search["member_oof_accuracy"])
    # the stacker learnt every class, birds included: the validation birds are predicted as birds
    per_class = result.metrics["validation"]["per_class"]
    assert per_class["birds"]["recall"] > 0 and result.record["metrics"]["validation"]["accuracy"] >= 0.8


def test_test_time_views_are_scored_on_the_classes_that_can_be_held_out(small_class_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(small_class_store, store)
    head = fit_head(store, "logreg", out=tmp_path / "head")
    result = eval_head(head.folder, split="train", tta=1, cv=3)
    scores = result["tta_cv"]
    assert scores["cv"] == 3 and scores["cv_scheme"] == SMALL_KEPT and scores["held_out"] == 24  # cats + dogs
    assert 0 <= scores["plain_cv_accuracy"] <= 1 and 0 <= scores["tta_cv_accuracy"] <= 1
    assert any("(birds)" in n and "the accuracies are over the other classes" in n for n in result["notes"])


def singletons(n_classes: int = 6):
    X, y = features(n_per_class=1, n_classes=n_classes, shape=(6,))
    return X.astype(np.float32), y


def test_every_class_a_single_image_has_no_folds_and_the_note_says_so():
    X, y = singletons()
    folds, scheme = cv_folds(5, y, 0)
    assert folds == [] and scheme == {"scheme": NO_FOLDS, "folds": 0, "kept_in_training": list(range(6))}
    estimator, record = search_kind("logreg", {}, make_head("logreg", {}, "flatten", None, 0), 5, 0, X, y)
    assert record["cv"] == 0 and record["cv_scheme"] == NO_FOLDS and estimator is not None
    [note] = selection_notes(record, [f"c{i}" for i in range(6)])
    assert note.startswith("Every class has a single train image (6 classes: c0, c1")
    assert "nothing was cross-validated" in note and "judged on the other classes" not in note
    assert "fewer than" not in note


def test_tta_scoring_with_every_class_a_single_image_scores_nothing_and_says_why():
    X, y = singletons()
    model = EstimatorModel(make_head("logreg", {}, "flatten", None, 0).fit(X, y), get_kind("logreg"))
    scores = cross_validated(model, [X], [[X[:, ::-1].copy()]], y, cv=3)
    assert scores["held_out"] == 0 and scores["plain_cv_accuracy"] is None and scores["tta_cv_accuracy"] is None
    assert scores["note"].startswith("Every class has a single train image") and "cannot be judged" in scores["note"]


def test_an_unchanged_dataset_still_uses_plain_stratified_folds_for_tta():
    X, y = features(n_per_class=9, n_classes=2, shape=(6,))
    X = X.astype(np.float32)
    model = EstimatorModel(make_head("logreg", {}, "flatten", None, 0).fit(X, y), get_kind("logreg"))
    scores = cross_validated(model, [X], [[X]], y, cv=3)
    assert scores["held_out"] == 18 and scores["note"] is None and scores["kept_in_training"] == []
    assert scores["plain_cv_accuracy"] == scores["tta_cv_accuracy"]  # the same view: the same answers
