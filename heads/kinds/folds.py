"""Cross-validation folds that still work when some classes are smaller than the number of folds.

Plain stratified k-fold needs every class to have at least k train images. A class with fewer is
not dropped and nothing is refused: its images stay in every training fold (the head always learns
it) and are never held out, so the choice is judged on the classes that can be split. The scheme
used, and the classes kept out of the held-out folds, go into the record. Repeated shuffles were the
other option; they still need two images per class and score the smallest classes on one image, so
a one-image class would be refused or dominate the noise. When every class has a single image no
row can be held out and still be learnt: there are no folds, and callers say what they judged by
instead (`kept_note`).
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from heads.errors import HeadError

STRATIFIED = "stratified k-fold"
SMALL_KEPT = "stratified k-fold over the classes with at least k images; smaller classes in every training fold"
NO_FOLDS = "no held-out fold (every class has a single train image)"


def check_cv(cv: int) -> None:
    """--cv is a fold count of at least 2 (small classes alone are no reason to refuse)."""
    if cv < 2:
        raise HeadError(f"--cv must be at least 2 folds. Received: {cv}")


def cv_folds(cv: int, labels, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict]:
    """The (train, held-out) row positions of each fold, and how they were made.

    Parameters
    ----------
    cv : int
        Folds asked for (at least 2).
    labels : array-like
        One label per train row.
    seed : int
        Shuffles the rows before they are cut into folds.

    Returns
    -------
    folds : list of (ndarray, ndarray)
        Row positions trained on and held out, per fold.
    scheme : dict
        ``scheme`` (one of the module's three), ``folds`` and ``kept_in_training`` (labels of the
        classes never held out, smallest first).
    """
    check_cv(cv)
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    if counts.min() >= cv:
        folds = list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
        return folds, {"scheme": STRATIFIED, "folds": cv, "kept_in_training": []}
    if counts.max() < 2:  # a held-out image's class would be absent from its training fold: unlearnable
        return [], {"scheme": NO_FOLDS, "folds": 0, "kept_in_training": values.tolist()}
    k = cv if counts.max() >= cv else int(counts.max())  # fewer folds only when no class has cv images
    small = values[counts < k]
    kept = np.flatnonzero(np.isin(labels, small))
    split = np.flatnonzero(~np.isin(labels, small))
    folds = [(np.sort(np.concatenate([split[train], kept])), split[held]) for train, held in
             StratifiedKFold(k, shuffle=True, random_state=seed).split(split, labels[split])]
    order = np.argsort(counts[counts < k], kind="stable")
    return folds, {"scheme": SMALL_KEPT, "folds": k, "kept_in_training": small[order].tolist()}


def kept_note(scheme: dict, class_names=None, judged: str = "the choice was judged on the other classes",
              unjudged: str = "each candidate was scored on the train images it learnt (a weak judge; a tie keeps "
                              "the cheaper)") -> str | None:
    """One line naming the classes no fold could hold out, or None when every class was held out.

    Parameters
    ----------
    scheme : dict
        ``folds`` and ``kept_in_training`` as `cv_folds` returns them (a record's ``cv`` may stand for
        ``folds``).
    class_names : sequence, optional
        Names indexed by the labels of ``kept_in_training``.
    judged, unjudged : str
        How the caller judged instead: with some classes held out, and with none (every class one image).
    """
    kept = scheme["kept_in_training"]
    if not kept:
        return None
    names = [str(class_names[k]) if class_names is not None else str(k) for k in kept]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    if not scheme.get("folds", scheme.get("cv")):
        return (f"Every class has a single train image ({len(names)} classes: {shown}): none can be held out and "
                f"still be learnt, so nothing was cross-validated; {unjudged}.")
    return (f"{len(names)} classes had fewer than {scheme.get('folds', scheme.get('cv'))} train images and were "
            f"kept in every training fold, never held out ({shown}); {judged}.")


def judged_by(record: dict) -> str:
    """How a record's figure was measured, for a line of output: "5-fold CV", or "in-sample" when every
    class had a single train image and no fold could be held out."""
    return f"{record['cv']}-fold CV" if record.get("cv") else "in-sample (no fold could be held out)"


def out_of_fold(record: dict) -> str:
    """How stacked probabilities were made: "5-fold out-of-fold", or in-sample when no fold existed."""
    return f"{record['cv']}-fold out-of-fold" if record.get("cv") else "in-sample (no fold could be held out)"
