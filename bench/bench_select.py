"""Benchmark: `--kind auto` selection (heads.kinds.selection) against the old one, paired, on
generated features; and how much of it a `--budget` keeps.

The old selection (before the budget) ran scikit-learn's GridSearchCV per kind over the same grids
and folds, refitting every kind's best on all rows; it is rebuilt here as the peer. Both run in this
one process on the same generated train rows (Gaussian blobs, pooled-feature sized) and are scored
on a generated validation split nobody chose on.

    python bench/bench_select.py [--rows 2000] [--dims 256] [--classes 2] [--budget 20]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from heads.kinds.exportable import exportable_grids  # noqa: E402
from heads.kinds.registry import get_kind, make_head  # noqa: E402
from heads.kinds.selection import AUTO_KINDS, auto_grid, select_kind  # noqa: E402


def blobs(rows: int, dims: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(classes, dims)) * 0.25  # overlapping: not all 100 %
    y = rng.integers(0, classes, rows)
    return (centres[y] + rng.normal(size=(rows, dims))).astype(np.float32), y


def old_auto(X, y, cv: int, seed: int):
    """The selection as it was: GridSearchCV per kind, each kind's best refitted, the best kind kept."""
    best = None
    for kind in AUTO_KINDS:
        estimator = make_head(kind, {}, "flatten", None, seed)
        grids = auto_grid(kind, len(y) - -(-len(y) // cv))
        grids, _ = exportable_grids(kind, estimator, grids, "" if get_kind(kind).keras else "clf__")
        search = GridSearchCV(estimator, grids, cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
                              scoring="accuracy", refit=True, error_score="raise").fit(X, y)
        if best is None or search.best_score_ > best[0]:
            best = (search.best_score_, kind, search.best_estimator_)
    return best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0)
    args = parser.parse_args()
    X, y = blobs(args.rows, args.dims, args.classes, seed=1)
    Xv, yv = blobs(args.rows // 2, args.dims, args.classes, seed=2)
    results = {}
    for name, run in [("old auto (GridSearchCV per kind)", lambda: old_auto(X, y, args.cv, 0)),
                      ("new auto", lambda: select_kind("flatten", None, 0, args.cv, X, y)[:2]),
                      (f"new auto --budget {args.budget:g}s",
                       lambda: select_kind("flatten", None, 0, args.cv, X, y, budget=args.budget)[:2])]:
        started = time.perf_counter()
        kind, estimator = run()
        seconds = time.perf_counter() - started
        results[name] = {"kind": kind, "seconds": round(seconds, 1),
                         "validation_accuracy": float((estimator.predict(Xv) == yv).mean())}
        print(name, results[name], flush=True)
    old = results["old auto (GridSearchCV per kind)"]["seconds"]
    for name, figures in results.items():
        figures["time_vs_old"] = round(figures["seconds"] / old, 2)
    print(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
