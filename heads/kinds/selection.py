"""Choosing on the train split only: a kind's parameters (`--search`) and the kind itself (`--kind auto`).

Every choice here is made by stratified k-fold cross-validation on the rows given, which are the
train split's: the other splits are scored after the fact, so their figures stay honest. The
record of a choice lists every candidate with its mean and spread over the folds.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from heads.errors import HeadError
from heads.kinds.exportable import exportable_grids
from heads.kinds.registry import get_kind, make_head, search_space
from heads.record import jsonable

AUTO = "auto"
# What `--kind auto` tries, simplest first (a tie keeps the earlier). forest and sgd are left out: on
# bottleneck features they were never better than logreg (bench/README.md) and forest is the slowest.
AUTO_KINDS = ("logreg", "svm", "knn", "dense")


def check_folds(cv: int, labels: np.ndarray) -> None:
    if cv < 2:
        raise HeadError(f"--cv must be at least 2 folds. Received: {cv}")
    counts = np.unique(labels, return_counts=True)[1]
    if counts.min() < cv:
        raise HeadError(f"--cv {cv} needs at least {cv} train images per class; the smallest class has "
                        f"{counts.min()}.")


def cv_search(estimator, grid: list[dict], cv: int, seed: int, X, y) -> tuple[Any, dict]:
    """GridSearchCV on (X, y), refitted on all of it: the best estimator and the search's record."""
    check_folds(cv, y)
    search = GridSearchCV(estimator, grid, cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
                          scoring="accuracy", refit=True, error_score="raise")
    search.fit(X, y)
    results = search.cv_results_
    candidates = [
        {"params": jsonable(results["params"][i]), "mean_accuracy": float(results["mean_test_score"][i]),
         "std_accuracy": float(results["std_test_score"][i]), "rank": int(results["rank_test_score"][i])}
        for i in np.argsort(results["rank_test_score"], kind="stable")
    ]
    record = {"split": "train", "cv": cv, "scoring": "accuracy", "grid": jsonable(grid),
              "best_params": jsonable(search.best_params_), "best_cv_accuracy": float(search.best_score_),
              "candidates": candidates}
    return search.best_estimator_, record


def search_kind(kind: str, fixed: dict, estimator, cv: int, seed: int, X, y) -> tuple[Any, dict]:
    """`--search`: the kind's grid, minus what the user fixed, by CV on the rows given."""
    return cv_search(estimator, search_space(kind, fixed), cv, seed, X, y)


def auto_grid(kind: str, fold_rows: int) -> list[dict]:
    """The candidates `--kind auto` tries for one kind: its grid, without neighbour counts larger than a
    fold's train rows; the dense head with its defaults only (each candidate is a Keras training per fold)."""
    if get_kind(kind).keras:
        return [{}]
    grids = []
    for grid in search_space(kind, {}):
        if "clf__n_neighbors" in grid:
            grid = {**grid, "clf__n_neighbors": [k for k in grid["clf__n_neighbors"] if k <= fold_rows] or [1]}
        grids.append(grid)
    return grids


def select_kind(reduce: str, class_weight: str | None, seed: int, cv: int, X, y,
                on_stage: Callable[[str], None] = lambda message: None,
                exportable_only: bool = True) -> tuple[str, Any, dict]:
    """`--kind auto`: every kind of AUTO_KINDS searched by CV on (X, y); the best kept, refitted on all rows.
    `exportable_only`: candidates no format exports (heads.kinds.exportable) are left out, and listed in the
    record's "not_exportable". Returns (kind, fitted estimator, record with every kind's CV scores)."""
    check_folds(cv, y)
    tried: dict[str, dict] = {}
    best: tuple[float, str, Any] | None = None
    skipped, not_exportable = [], []
    for kind in AUTO_KINDS:
        if class_weight not in (None, "none") and not get_kind(kind).class_weight:
            skipped.append(kind)
            continue
        on_stage(f"--kind auto: {kind}, {cv}-fold cross-validation on the train split")
        estimator = make_head(kind, {}, reduce, class_weight, seed)
        grids = auto_grid(kind, len(y) - -(-len(y) // cv))
        if exportable_only:  # the exportable-kinds rule (heads.kinds.exportable)
            grids, reasons = exportable_grids(kind, estimator, grids, "" if get_kind(kind).keras else "clf__")
            not_exportable += reasons
            if not grids:
                continue
        fitted, record = cv_search(estimator, grids, cv, seed, X, y)
        tried[kind] = {k: record[k] for k in ("best_params", "best_cv_accuracy", "candidates")}
        if best is None or record["best_cv_accuracy"] > best[0]:
            best = (record["best_cv_accuracy"], kind, fitted)
    score, kind, estimator = best
    record = {"split": "train", "cv": cv, "scoring": "accuracy", "kinds_tried": list(tried), "chosen": kind,
              "best_cv_accuracy": score, "best_params": tried[kind]["best_params"], "by_kind": tried,
              "skipped": {k: "cannot weight classes" for k in skipped}, "not_exportable": not_exportable,
              "candidates": tried[kind]["candidates"]}
    return kind, estimator, record
