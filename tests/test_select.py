"""Model selection (heads.kinds.selection, heads.kinds.folds): every score recorded, a budget counted in
candidates, and classes smaller than the folds kept in every training fold instead of a refusal."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from heads.cli import app
from heads.kinds.folds import NO_FOLDS, SMALL_KEPT, STRATIFIED, cv_folds
from heads.kinds.registry import make_head
from heads.kinds.selection import AUTO_KINDS, search_kind, select_kind, selection_notes
from tests.test_heads_support import binary_store, features  # noqa: F401


def small_classes(n_classes: int = 120, dims: int = 8, seed: int = 0):
    """120 classes of 1 to 17 images (the smallest three: 1, 2 and 4), well apart."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 18, n_classes)
    counts[:4] = [1, 2, 4, 17]
    centres = rng.normal(size=(n_classes, dims)) * 4
    X = np.concatenate([centres[c] + rng.normal(size=(n, dims)) for c, n in enumerate(counts)])
    return X.astype(np.float32), np.repeat(np.arange(n_classes), counts), counts


def test_small_classes_stay_in_every_training_fold_and_the_rest_is_held_out_once():
    X, y, counts = small_classes()
    folds, scheme = cv_folds(5, y, seed=0)
    small = set(np.flatnonzero(counts < 5).tolist())
    assert scheme["scheme"] == SMALL_KEPT and scheme["folds"] == 5 and len(folds) == 5
    assert set(scheme["kept_in_training"]) == small and scheme["kept_in_training"][0] == 0  # smallest first
    held = np.concatenate([h for _, h in folds])
    assert sorted(held.tolist()) == np.flatnonzero(~np.isin(y, list(small))).tolist()  # each once
    for train, held_out in folds:
        assert set(y[train].tolist()) == set(range(120))  # every class learnt in every fold
        assert not set(train.tolist()) & set(held_out.tolist())
        assert not set(y[held_out].tolist()) & small


def test_folds_without_small_classes_are_plain_stratified_and_singletons_are_not_refused():
    _, y = features(n_per_class=10, n_classes=3)
    assert cv_folds(5, y, 0)[1] == {"scheme": STRATIFIED, "folds": 5, "kept_in_training": []}
    few = np.array([0, 0, 0, 1, 1, 2])  # no class has 5: the folds drop to the largest class (3)
    assert cv_folds(5, few, 0)[1]["folds"] == 3 and cv_folds(5, few, 0)[1]["kept_in_training"] == [2, 1]
    singles = np.arange(6)
    folds, scheme = cv_folds(5, singles, 0)
    assert scheme["scheme"] == NO_FOLDS and folds == []  # a held-out image's class could not be learnt


def test_search_with_120_small_classes_chooses_records_every_score_and_names_the_kept_classes():
    X, y, counts = small_classes()
    stages = []
    estimator, record = search_kind("knn", {}, make_head("knn", {}, "flatten", None, 0), 5, 0, X, y,
                                    on_stage=stages.append)
    assert estimator is not None and record["best_params"] is not None
    assert record["cv_scheme"] == SMALL_KEPT and record["budget_hit"] is False and record["untried"] == []
    assert len(record["candidates"]) == len(stages) > 1  # progress per candidate, every score kept
    assert [c["rank"] for c in record["candidates"]] == list(range(1, len(stages) + 1))
    assert all(len(c["fold_accuracy"]) == 5 for c in record["candidates"])
    assert record["best_cv_accuracy"] == max(c["mean_accuracy"] for c in record["candidates"]) > 0.9
    names = [f"class{i}" for i in range(120)]
    [note] = selection_notes(record, names)
    assert note.startswith(f"{int((counts < 5).sum())} classes had fewer than 5 train images") and "class0," in note
    assert (estimator.predict(X) == y).mean() > 0.9


def test_a_spent_budget_stops_after_the_first_candidate_and_says_what_was_left():
    X, y = features(n_per_class=12, n_classes=2, shape=(6,))
    kind, estimator, record = select_kind("flatten", None, 0, 3, X.astype(np.float32), y, budget=0)
    assert kind == "logreg" and list(record["by_kind"]) == ["logreg"]
    assert len(record["candidates"]) == 1 and len(record["by_kind"]["logreg"]["untried"]) == 4
    assert record["budget_hit"] is True and record["kinds_untried"] == list(AUTO_KINDS[1:])
    assert record["cv_scheme"] == STRATIFIED and estimator.predict(X.astype(np.float32)).shape == y.shape
    budget_note = selection_notes(record)[-1]
    assert budget_note.startswith("--budget 0s was spent") and "svm, knn, dense not tried" in budget_note


def test_no_budget_tries_every_kind_and_keeps_every_score():
    X, y = features(n_per_class=12, n_classes=2, shape=(6,))
    kind, _, record = select_kind("flatten", None, 0, 3, X.astype(np.float32), y, exportable_only=True)
    assert record["budget_hit"] is False and record["kinds_untried"] == [] and set(record["by_kind"]) == set(AUTO_KINDS)
    assert record["chosen"] == kind and record["best_cv_accuracy"] == max(
        v["best_cv_accuracy"] for v in record["by_kind"].values())
    assert all(v["untried"] == [] for v in record["by_kind"].values())


def test_fit_with_budget_records_how_it_was_judged_and_bad_budgets_get_one_line(binary_store, tmp_path):  # noqa: F811
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "logreg", "--search", "--cv", "3",
                                 "--budget", "0s", "--out", str(tmp_path / "head"), "--json"])
    assert fitted.exit_code == 0, fitted.output
    record = json.loads(fitted.stdout)["record"]
    assert len(record["search"]["candidates"]) == 1 and record["selection"]["budget_hit"] is True
    assert record["selection"]["cv_scheme"] == STRATIFIED and record["selection"]["budget_s"] == 0
    for bad in ("soon", "-5s", "infs"):
        refused = runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "logreg", "--budget", bad])
        assert refused.exit_code != 0 and len(refused.output.strip().splitlines()) == 1
        assert f"Received: {bad!r}" in refused.output


def test_halving_scores_every_candidate_on_a_third_of_each_fold_then_the_best_third_on_whole_folds(monkeypatch):
    from sklearn.model_selection import cross_val_score

    from heads.kinds import selection
    from heads.kinds.halving import rung_fractions, subsample_folds

    assert rung_fractions(24, 100) == [1.0] and rung_fractions(3, 10_000) == [1.0]  # nothing to gain
    assert rung_fractions(15, 480) == [1 / 3, 1.0] and rung_fractions(24, 1600) == [1 / 9, 1 / 3, 1.0]
    X, y = features(n_per_class=300, n_classes=2, shape=(6,), spread=2.0)
    X = X.astype(np.float32)
    folds, _ = cv_folds(5, y, 0)
    for (train, held), (part, same) in zip(folds, subsample_folds(folds, y, 1 / 3, 0)):
        assert np.array_equal(held, same) and set(part) <= set(train) and abs(len(part) - len(train) / 3) <= 2
        assert abs(np.mean(y[part]) - np.mean(y[train])) < 0.02  # class by class

    monkeypatch.setattr(selection, "AUTO_KINDS", ("logreg", "knn"))  # 15 candidates, no Keras training
    stages = []
    kind, estimator, record = selection.select_kind("flatten", None, 0, 5, X, y, on_stage=stages.append)
    assert record["halving"]["rows_fractions"] == [1 / 3, 1.0]
    rungs = [len(c["rungs"]) for v in record["by_kind"].values() for c in v["candidates"]]
    assert len(rungs) == 15 and rungs.count(2) == 5  # all on a third, the best third (5) on whole folds
    assert record["best_cv_accuracy"] == max(c["mean_accuracy"] for v in record["by_kind"].values()
                                             for c in v["candidates"] if c["rung"] == 1)
    best = record["by_kind"][kind]["candidates"][0]
    assert best["rung"] == 1 and best["params"] == record["best_params"]
    again = cross_val_score(make_head(kind, {}, "flatten", None, 0).set_params(**best["params"]), X, y, cv=folds)
    assert best["fold_accuracy"] == pytest.approx(again.tolist())  # the whole folds every candidate shares
    assert sum("rung 2/2" in s for s in stages) == 1 and estimator.predict(X).shape == y.shape
