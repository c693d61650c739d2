"""Cross-validation folds that still work when some classes are smaller than the number of folds.

Plain stratified k-fold needs every class to have at least k train images. A class with fewer is
not dropped and nothing is refused: its images stay in every training fold (the head always learns
it) and are never held out, so the choice is judged on the classes that can be split. The scheme
used, and the classes kept out of the held-out folds, go into the record. Repeated shuffles were the
other option; they still need two images per class and score the smallest classes on one image, so
a one-image class would be refused or dominate the noise.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from heads.errors import HeadError

STRATIFIED = "stratified k-fold"
SMALL_KEPT = "stratified k-fold over the classes with at least k images; smaller classes in every training fold"
UNSTRATIFIED = "k-fold over rows (no class has 2 images)"


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
    if counts.max() < 2:  # every class has one image: nothing can be held out and still be learnt
        k = min(cv, len(labels))
        folds = list(KFold(k, shuffle=True, random_state=seed).split(labels)) if k >= 2 else []
        return folds, {"scheme": UNSTRATIFIED, "folds": k, "kept_in_training": values.tolist()}
    k = cv if counts.max() >= cv else int(counts.max())  # fewer folds only when no class has cv images
    small = values[counts < k]
    kept = np.flatnonzero(np.isin(labels, small))
    split = np.flatnonzero(~np.isin(labels, small))
    folds = [(np.sort(np.concatenate([split[train], kept])), split[held]) for train, held in
             StratifiedKFold(k, shuffle=True, random_state=seed).split(split, labels[split])]
    order = np.argsort(counts[counts < k], kind="stable")
    return folds, {"scheme": SMALL_KEPT, "folds": k, "kept_in_training": small[order].tolist()}


def kept_note(scheme: dict, class_names=None) -> str | None:
    """One line naming the classes no fold could hold out, or None when every class was held out."""
    kept = scheme["kept_in_training"]
    if not kept:
        return None
    names = [str(class_names[k]) if class_names is not None else str(k) for k in kept]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return (f"{len(names)} classes had fewer than {max(scheme['folds'], 2)} train images and were kept in every "
            f"training fold, never held out ({shown}); the choice was judged on the other classes.")
