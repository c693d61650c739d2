"""Successive halving for `--kind auto`: every candidate scored on a part of each training fold first,
only the best third scored again on more rows, until the last few are scored on the whole folds.

Why: on Dogs vs Cats (2,000 train rows of 9,472 joined features) one RBF SVM candidate cost about 18
CPU-seconds per fold, four of them 80 % of the whole selection, and an RBF SVM's cost grows with the
square of its rows: on a third of the rows it costs a ninth. The rows held out are always the whole
fold (the scores stay comparable within a rung), the folds are the ones every candidate shares
(heads.kinds.folds), and nothing of another split is used. scikit-learn's HalvingGridSearchCV does the
same per estimator; here one ladder runs over the candidates of every kind, so a cheap kind that
does as well keeps an expensive one from its full-size fits.
"""
from __future__ import annotations

import math

import numpy as np

FACTOR = 3  # keep the best third at each rung, and give it three times the rows
MIN_ROWS = 150  # no rung trains on fewer rows per fold than this (nor on fewer than 2 per class)


def rung_fractions(candidates: int, fold_rows: int, factor: int = FACTOR, min_rows: int = MIN_ROWS) -> list[float]:
    """The share of each training fold used at each rung, smallest first, ending at 1.0: as many rungs
    as it takes to leave at most `factor` candidates for the last, while the first rung keeps at least
    `min_rows` rows. One rung (plain cross-validation) when there is nothing to gain."""
    rungs = 1
    while candidates > factor ** rungs and fold_rows / factor ** rungs >= min_rows:
        rungs += 1
    return [1.0 / factor ** (rungs - 1 - r) for r in range(rungs)]


def survivors(count: int, factor: int = FACTOR) -> int:
    """How many candidates go on to the next rung."""
    return max(1, math.ceil(count / factor))


def subsample_folds(folds, labels: np.ndarray, fraction: float, seed: int):
    """The folds with each training part cut to `fraction` of its rows, class by class (every class keeps
    at least one row), the held-out parts whole."""
    if fraction >= 1.0:
        return folds
    rng = np.random.default_rng(seed)
    out = []
    for train, held in folds:
        kept = []
        for value in np.unique(labels[train]):
            rows = train[labels[train] == value]
            take = max(1, int(round(fraction * len(rows))))
            kept.append(rows if take >= len(rows) else rng.choice(rows, take, replace=False))
        out.append((np.sort(np.concatenate(kept)), held))
    return out
