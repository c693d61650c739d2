"""Choosing on the train split only: a kind's parameters (`--search`) and the kind itself (`--kind auto`).

Every choice here is made by stratified k-fold cross-validation on the rows given, which are the
train split's: the other splits are scored after the fact, so their figures stay honest. The
record of a choice lists every candidate with its mean and spread over the folds.
"""
from __future__ import annotations

from typing import Any, Callable

import json
import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, cross_val_score

from heads.errors import HeadError
from heads.kinds.folds import cv_folds, kept_note
from heads.kinds.halving import FACTOR, MIN_ROWS, rung_fractions, subsample_folds, survivors
from heads.kinds.exportable import exportable_grids
from heads.kinds.registry import get_kind, make_head, search_space
from heads.record import jsonable

AUTO = "auto"
# What `--kind auto` tries, simplest first (a tie keeps the earlier). forest and sgd are left out: on
# bottleneck features they were never better than logreg (bench/README.md) and forest is the slowest.
AUTO_KINDS = ("logreg", "svm", "knn", "dense")


class Budget:
    """Seconds allowed for a whole selection (None: no limit), shared by every kind it tries."""

    def __init__(self, seconds: float | None):
        if seconds is not None and not seconds >= 0:
            raise HeadError(f"--budget is a number of seconds, 0 or more. Received: {seconds}")
        self.seconds, self.started, self.tried, self.hit = seconds, time.perf_counter(), 0, False

    def spent(self) -> bool:
        if self.seconds is not None and time.perf_counter() - self.started >= self.seconds:
            self.hit = True
        return self.hit

    def record(self) -> dict:
        return {"budget_s": self.seconds, "budget_hit": self.hit,
                "elapsed_s": round(time.perf_counter() - self.started, 2)}


def cv_search(estimator, grid: list[dict], cv: int, seed: int, X, y, *, folds=None, scheme: dict | None = None,
              budget: Budget | None = None, on_stage: Callable[[str], None] = lambda message: None,
              label: str = "", refit: bool = True) -> tuple[Any, dict]:
    """Every candidate of `grid`, in its order (cheapest first), scored by CV on (X, y) one at a time;
    the best refitted on all rows. Stops before a candidate once `budget` is spent (the first candidate
    is always scored). Returns the best estimator and the record (every candidate's scores, the scheme,
    the candidates left untried)."""
    if folds is None:
        folds, scheme = cv_folds(cv, y, seed)
    budget = budget or Budget(None)
    params = list(ParameterGrid(grid))
    candidates, untried = [], []
    for i, candidate in enumerate(params):
        if budget.spent() and (candidates or budget.tried):
            untried = params[i:]
            break
        scores = _score(clone(estimator).set_params(**candidate), folds, X, y)
        budget.tried += 1
        candidates.append({"params": jsonable(candidate), "mean_accuracy": float(np.mean(scores)),
                           "std_accuracy": float(np.std(scores)), "fold_accuracy": [float(a) for a in scores]})
        on_stage(f"{label}candidate {i + 1}/{len(params)} {json.dumps(jsonable(candidate))}: "
                 f"{candidates[-1]['mean_accuracy']:.4f}")
    best = None
    if candidates:  # a stable ranking: a tie keeps the earlier (cheaper) candidate
        order = sorted(range(len(candidates)), key=lambda i: (-candidates[i]["mean_accuracy"], i))
        for rank, i in enumerate(order, 1):
            candidates[i]["rank"] = rank
        best = params[order[0]]
        candidates = [candidates[i] for i in order]
    record = {"split": "train", "cv": scheme["folds"], "cv_asked": cv, "cv_scheme": scheme["scheme"],
              "kept_in_training": jsonable(scheme["kept_in_training"]), "scoring": "accuracy",
              "grid": jsonable(grid), "best_params": jsonable(best) if best is not None else None,
              "best_cv_accuracy": candidates[0]["mean_accuracy"] if candidates else None,
              "candidates": candidates, "untried": jsonable(untried), **budget.record()}
    if best is None or not refit:
        return None, record
    return clone(estimator).set_params(**best).fit(X, y), record


def _score(estimator, folds, X, y) -> np.ndarray:
    """Held-out accuracy per fold; with no fold to hold out (every class one image), training accuracy."""
    if not folds:
        return np.array([float(np.mean(clone(estimator).fit(X, y).predict(X) == y))])
    return cross_val_score(estimator, X, y, cv=folds, scoring="accuracy", error_score="raise")


def search_kind(kind: str, fixed: dict, estimator, cv: int, seed: int, X, y, budget: float | None = None,
                on_stage: Callable[[str], None] = lambda message: None) -> tuple[Any, dict]:
    """`--search`: the kind's grid, minus what the user fixed, by CV on the rows given, within `budget`
    seconds (None: every candidate)."""
    return cv_search(estimator, search_space(kind, fixed), cv, seed, X, y, budget=Budget(budget),
                     on_stage=on_stage, label=f"{kind} ")


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
                exportable_only: bool = True, budget: float | None = None) -> tuple[str, Any, dict]:
    """`--kind auto`: the candidates of every kind of AUTO_KINDS, cheapest first, scored by CV on (X, y)
    on the same folds, by successive halving (heads.kinds.halving: all on part of each training fold,
    the best third on more, the last few on the whole folds); the best of the last rung refitted on all
    rows.

    Parameters
    ----------
    exportable_only : bool
        Candidates no format exports (heads.kinds.exportable) are left out, and listed in the record's
        "not_exportable".
    budget : float or None
        Seconds for the whole selection: once spent, no further candidate starts (the first is always
        scored); the choice is the best of the highest rung reached, and what was not tried is recorded.

    Returns
    -------
    (kind, fitted estimator, record with every candidate's scores at each rung it reached, the fold
    scheme, the rungs and the budget).
    """
    folds, scheme = cv_folds(cv, y, seed)
    spend = Budget(budget)
    fold_rows = min((len(train) for train, _ in folds), default=len(y))
    entries: list[tuple[str, Any, dict]] = []
    skipped, not_exportable = [], []
    for kind in AUTO_KINDS:
        if class_weight not in (None, "none") and not get_kind(kind).class_weight:
            skipped.append(kind)
            continue
        estimator = make_head(kind, {}, reduce, class_weight, seed)
        grids = auto_grid(kind, fold_rows)
        if exportable_only:  # the exportable-kinds rule (heads.kinds.exportable)
            grids, reasons = exportable_grids(kind, estimator, grids, "" if get_kind(kind).keras else "clf__")
            not_exportable += reasons
        entries += [(kind, estimator, params) for params in ParameterGrid(grids)] if grids else []
    fractions = rung_fractions(len(entries), fold_rows) if folds else [1.0]
    scored: list[list[dict]] = [[] for _ in entries]  # per candidate, one entry per rung it reached
    alive, final = list(range(len(entries))), []
    for rung, fraction in enumerate(fractions):
        rung_folds = subsample_folds(folds, y, fraction, seed + rung)
        on_stage(f"--kind auto: {len(alive)} candidates, {scheme['folds']}-fold cross-validation on "
                 f"{fraction:.0%} of each training fold (rung {rung + 1}/{len(fractions)})")
        done = []
        for i in alive:
            if spend.spent() and spend.tried:
                break
            kind, estimator, params = entries[i]
            accuracy = _score(clone(estimator).set_params(**params), rung_folds, X, y)
            spend.tried += 1
            scored[i].append({"rung": rung, "rows_fraction": fraction, "mean_accuracy": float(np.mean(accuracy)),
                              "std_accuracy": float(np.std(accuracy)),
                              "fold_accuracy": [float(a) for a in accuracy]})
            done.append(i)
            on_stage(f"{kind} {json.dumps(jsonable(params))}: {scored[i][-1]['mean_accuracy']:.4f}")
        if not done:
            break
        final = sorted(done, key=lambda i: (-scored[i][-1]["mean_accuracy"], i))  # a tie keeps the cheaper
        if rung == len(fractions) - 1 or spend.hit:
            break
        alive = sorted(final[:survivors(len(final))])  # cheapest first again
    winner = final[0]
    kind, estimator, params = entries[winner]
    on_stage(f"--kind auto: refitting {kind} on all {len(y)} train rows")
    estimator = clone(estimator).set_params(**params).fit(X, y)
    by_kind = _by_kind(entries, scored)
    record = {"split": "train", "cv": scheme["folds"], "cv_asked": cv, "cv_scheme": scheme["scheme"],
              "kept_in_training": jsonable(scheme["kept_in_training"]), "scoring": "accuracy",
              "kinds_tried": list(by_kind), "chosen": kind, "best_cv_accuracy": scored[winner][-1]["mean_accuracy"],
              "best_params": jsonable(params), "by_kind": by_kind,
              "halving": {"factor": FACTOR, "rows_fractions": fractions, "min_rows": MIN_ROWS,
                          "final_rung": scored[winner][-1]["rung"]},
              "skipped": {k: "cannot weight classes" for k in skipped}, "not_exportable": not_exportable,
              "kinds_untried": [k for k in dict.fromkeys(e[0] for e in entries) if k not in by_kind],
              "candidates": by_kind[kind]["candidates"], **spend.record()}
    return kind, estimator, record


def _by_kind(entries, scored) -> dict[str, dict]:
    """Per kind with any candidate scored: its candidates ranked (highest rung reached first, then accuracy
    there), the best one's parameters and accuracy (and the share of rows it was judged on), and the
    candidates never scored."""
    out: dict[str, dict] = {}
    for kind in dict.fromkeys(e[0] for e in entries):
        mine = [i for i, e in enumerate(entries) if e[0] == kind]
        tried = sorted((i for i in mine if scored[i]),
                       key=lambda i: (-scored[i][-1]["rung"], -scored[i][-1]["mean_accuracy"], i))
        if not tried:
            continue
        candidates = [{"params": jsonable(entries[i][2]), **{k: v for k, v in scored[i][-1].items()},
                       "rungs": scored[i], "rank": rank} for rank, i in enumerate(tried, 1)]
        out[kind] = {"best_params": candidates[0]["params"], "best_cv_accuracy": candidates[0]["mean_accuracy"],
                     "rows_fraction": candidates[0]["rows_fraction"], "candidates": candidates,
                     "untried": [jsonable(entries[i][2]) for i in mine if not scored[i]]}
    return out


def selection_notes(record: dict, class_names=None) -> list[str]:
    """One line each: the classes no fold held out, and a budget that stopped the search early."""
    notes = []
    kept = kept_note({"kept_in_training": record["kept_in_training"], "folds": record["cv"]}, class_names)
    if kept:
        notes.append(kept)
    if record["budget_hit"]:
        untried = len(record.get("untried") or []) + sum(len(v.get("untried") or []) for v in
                                                         record.get("by_kind", {}).values())
        kinds = record.get("kinds_untried") or []
        notes.append(f"--budget {record['budget_s']:g}s was spent after {record['elapsed_s']:.0f}s: "
                     f"{untried} candidates{' and the kinds ' + ', '.join(kinds) if kinds else ''} not tried; "
                     "the choice is the best of those scored.")
    return notes
