"""`heads inspect suspects`: the images whose given label is least likely (label errors, ambiguous images).

Confident learning (Northcutt et al., cleanlab): a head of the user's choice (logreg by default)
gives every train image a probability per class from cross-validation, so no image is scored by
a head that saw it; the held-out splits are scored by the head fitted on the whole train split.
cleanlab's `find_label_issues` then flags the images whose given label the data contradicts
(per split, pruned by the estimated noise rates), and every image is ranked by the probability
of its given label. Folds are stratified by class and grouped by content, so an exact copy of an
image never sits in the fold that scores it. The probabilities are cached in the store.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from heads.errors import HeadError
from heads.inspection.result import Inspection, base_record
from heads.inspection.rows import InspectedRows, read_rows
from heads.kinds.registry import get_kind, make_head
from heads.record import jsonable

DEFAULT_KIND, DEFAULT_CV = "logreg", 5
COLUMNS = ["rank", "split", "path", "given", "suggested", "p_given", "p_suggested", "issue", "hash"]
METHOD = ("cleanlab.filter.find_label_issues (filter_by prune_by_noise_rate) per split on out-of-fold "
          "probabilities of the train split and the train-fitted head's probabilities of the other splits")


def find_suspects(store: str | Path, config: str | None = None, dataset: str | None = None,
                  kind: str = DEFAULT_KIND, params: dict | None = None, cv: int = DEFAULT_CV,
                  reduce: str | None = "auto", seed: int = 0, train_split: str = "train") -> Inspection:
    """Every labelled image ranked by how unlikely its given label is, the likely label errors flagged.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store.
    kind : str
        The kind of head that scores the images (see `heads kinds`; logreg by default).
    params : dict, optional
        The kind's parameters.
    cv : int
        Folds of the cross-validation on the train split (2 or more).
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).
    seed : int
        Seed of the folds and of the head.
    train_split : str
        The split cross-validated (the others are scored by the head fitted on it).

    Returns
    -------
    Inspection
        table: one row per scored image, most suspect first within each split (rank 1, 2, ...):
        split, path, given and suggested class, their probabilities, `issue` (flagged by cleanlab),
        hash; record: kind, folds, counts per split.
    """
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise HeadError(f"--cv is a number of folds, 2 or more. Received: --cv {cv!r}")
    kind = getattr(kind, "value", kind)
    spec = get_kind(kind)
    make_head(kind, params, "flatten", None, seed)  # parameters refused before any data is read
    rows = read_rows(store, config, dataset, reduce)
    frame = rows.frame
    if train_split not in set(frame["split"]):
        raise HeadError(f"No {train_split!r} split with features to cross-validate. Splits: "
                        f"{', '.join(sorted(set(frame['split'])))}")
    notes: list[str] = []
    train = (frame["split"] == train_split).to_numpy() & (frame["label"] >= 0).to_numpy()
    counts = np.bincount(frame.loc[train, "label"], minlength=len(rows.class_names))
    scarce = [name for name, n in zip(rows.class_names, counts) if 0 < n < cv]
    if scarce:
        notes.append(f"Classes with fewer than {cv} {train_split} images ({', '.join(scarce)}) cannot be "
                     f"cross-validated: their images are not scored, the other classes are.")
    kept = [c for c, n in enumerate(counts) if n >= cv]
    if len(kept) < 2:
        raise HeadError(f"Cross-validation needs 2 classes with at least {cv} {train_split} images each; "
                        f"found {len(kept)}. Received: --cv {cv}")
    key = rows.cache_key("suspects", kind=kind, params=jsonable(params or {}), cv=cv, seed=seed,
                         train_split=train_split, classes=kept)
    cached = rows.load_cached("suspects", key)
    if cached is not None and cached.get("proba", np.empty(0)).shape == (len(frame), len(kept)):
        proba = cached["proba"]
    else:
        proba = _probabilities(rows, kind, params, cv, seed, train & np.isin(frame["label"], kept), kept, train_split)
        rows.save_cached("suspects", key, {"proba": proba})
    table, flagged = _rank(frame, proba, kept, rows.class_names, notes)
    record = {**base_record("suspects", rows), "kind": spec.name, "params": jsonable(params or {}), "cv": cv,
              "seed": seed, "train_split": train_split, "method": METHOD, "classes_scored": [rows.class_names[c]
                                                                                            for c in kept],
              "scored": {s: int((table["split"] == s).sum()) for s in table["split"].unique()},
              "issues": flagged}
    return Inspection(table, record, rows.notes + notes)


def _probabilities(rows: InspectedRows, kind: str, params: dict | None, cv: int, seed: int,
                   train: np.ndarray, kept: list[int], train_split: str) -> np.ndarray:
    """(n_rows, len(kept)) probabilities of the kept classes: out-of-fold on train, the train-fitted
    head elsewhere; NaN for rows not scored (unlabelled, classes not kept)."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    frame = rows.frame
    X = rows.vectors
    content, labels = rows.content, frame["label"].to_numpy()
    proba = np.full((len(frame), len(kept)), np.nan, np.float32)
    folds = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed)
    train_rows = np.flatnonzero(train)
    proba[train_rows] = cross_val_predict(make_head(kind, params, "flatten", None, seed), X[content[train_rows]],
                                          labels[train_rows], groups=content[train_rows], cv=folds,
                                          method="predict_proba")
    others = np.flatnonzero(np.isin(labels, kept) & (frame["split"] != train_split).to_numpy())
    if len(others):
        head = make_head(kind, params, "flatten", None, seed).fit(X[content[train_rows]], labels[train_rows])
        proba[others] = head.predict_proba(X[content[others]])
    return proba


def _rank(frame: pd.DataFrame, proba: np.ndarray, kept: list[int], class_names: list[str],
          notes: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The scored rows ranked within their split, least likely given label first; cleanlab's flags."""
    from cleanlab.filter import find_label_issues

    scored = np.flatnonzero(~np.isnan(proba).any(axis=1))
    column = {c: i for i, c in enumerate(kept)}
    given = np.array([column[int(label)] for label in frame["label"].to_numpy()[scored]], dtype=np.int64)
    p = proba[scored]
    p_given = p[np.arange(len(scored)), given]
    suggested = p.argmax(axis=1)
    issue = np.zeros(len(scored), bool)
    splits = frame["split"].to_numpy(dtype=object)[scored]
    flagged = {}
    for split in sorted(set(splits)):
        mine = np.flatnonzero(splits == split)
        present = np.unique(given[mine])
        if len(present) < 2:
            notes.append(f"The {split} split holds one class only: its images are ranked, not flagged.")
            continue
        remap = {c: i for i, c in enumerate(present)}  # cleanlab wants every class it is given present
        labels = np.array([remap[c] for c in given[mine]])
        sub = p[mine][:, present]
        sub = sub / sub.sum(axis=1, keepdims=True)
        issue[mine] = find_label_issues(labels, sub, filter_by="prune_by_noise_rate")
        flagged[split] = int(issue[mine].sum())
    table = pd.DataFrame({
        "split": splits, "path": frame["path"].to_numpy()[scored],
        "given": [class_names[kept[g]] for g in given], "suggested": [class_names[kept[s]] for s in suggested],
        "p_given": p_given.astype(float), "p_suggested": p.max(axis=1).astype(float), "issue": issue,
        "hash": frame["hash"].to_numpy()[scored]})
    table = table.sort_values(["split", "p_given", "path"], kind="stable").reset_index(drop=True)
    table.insert(0, "rank", table.groupby("split").cumcount() + 1)
    return table[COLUMNS], flagged
