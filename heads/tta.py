"""Test-time views: a head's probabilities averaged over the plain image and K fixed views of it.

A fixed view (extract.tta_views: a horizontal flip first, then centre and corner zooms) is the same
deterministic transform for every image, so its features are a store configuration like any other
(the plain configuration with the view in its `augment` field): computed once, cached by content
hash, and reused by every later eval or predict. Nothing is learnt from the views: the head is the
one fitted on plain features, and K is the user's choice (or chosen by cross-validation on the train
split: `cross_validated`), never on the split a figure is reported on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from extract import RunOptions, run_extraction, tta_views
from heads.errors import HeadError
from heads.inputs import HeadInputs
from heads.kinds.folds import cv_folds, kept_note
from heads.record import jsonable
from store import ConfigView, DatasetIndex, FeatureStore, is_store


def view_inputs(inputs: HeadInputs, tta: int) -> list[HeadInputs]:
    """The head's inputs under each of the first `tta` fixed views (one HeadInputs per view)."""
    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or tta < 0:
        raise HeadError(f"--tta is a number of fixed views, 0 or more. Received: {tta!r}")
    for config in inputs.configs:
        if config.augment:
            raise HeadError(f"Test-time views apply to plain inputs; configuration {config.config_id} is already a "
                            f"view ({config.augment}). Received: --tta {tta}")
    try:
        views = tta_views(int(tta))
    except ValueError as error:
        raise HeadError(str(error)) from None
    return [HeadInputs(tuple(dataclasses.replace(c, augment=view.augment()) for c in inputs.configs), view_of=inputs)
            for view in views]


def _lacks_config(store: Path, config) -> bool:
    return not is_store(store) or config.config_id not in {c.config_id for c in FeatureStore(store).configs()}


def _lacking(store: Path, config, hashes: Sequence[str]) -> list[str]:
    """The hashes without features of `config` in the store."""
    if _lacks_config(store, config):
        return list(hashes)
    rows = FeatureStore(store).view(config.config_id).catalog.rows
    return [h for h in hashes if h not in rows]


def cache_views(inputs: list[HeadInputs], store: str | Path, index: DatasetIndex, hashes: Sequence[str],
                batch_size: int = 32, on_stage: Callable[[str], None] | None = None) -> list[list[ConfigView]]:
    """Make sure the store holds every view's features of these rows of `index` (extracting what it lacks,
    from the dataset's files as indexed), then a view of each view configuration."""
    store = Path(store)
    position = {h: i for i, h in enumerate(index.hashes)}
    for view in inputs:
        for config in view.configs:
            lacking = _lacking(store, config, hashes)
            if not lacking:
                continue
            splits = sorted({index.splits[position[h]] for h in lacking if h in position})
            if on_stage:
                on_stage(f"test-time view {config.augment['tta']}: extracting {len(lacking)} images of "
                         f"{', '.join(splits)} into configuration {config.config_id} (cached for next time)")
            run_extraction(index, store, config, RunOptions(batch_size=batch_size, splits=splits),
                           progress=False)  # the stage line above says it; the caller draws any bar
    views = [view.views(store, index.name, "the head's test-time view") for view in inputs]
    for view, config_views in zip(inputs, views):
        absent = ~view.present(config_views, list(hashes))
        if absent.any():
            example = next(h for h, gone in zip(hashes, absent) if gone)
            raise HeadError(f"{int(absent.sum())} rows have no features of test-time view {view.ids[0]} after "
                            f"extraction (e.g. content {example[:12]}: its file is gone or unreadable).")
    return views


def average(plain: np.ndarray, per_view: list[np.ndarray]) -> np.ndarray:
    """The mean of the plain image's probabilities and each view's (every row weighs 1 / (K + 1) each)."""
    return np.mean([plain, *per_view], axis=0)


def stored_probabilities(model, inputs: list[HeadInputs], views: list[list[ConfigView]], hashes: list[str],
                         chunk_rows: int) -> list[np.ndarray]:
    """The head's probabilities under each view, for rows the store holds, a bounded number at a time."""
    out = []
    for view, config_views in zip(inputs, views):
        proba = np.zeros((len(hashes), len(model.classes_)))
        for positions, parts in view.read_chunks(config_views, hashes, chunk_rows):
            proba[positions] = model.predict_proba(parts)
        out.append(proba)
    return out


def file_probabilities(model, inputs: list[HeadInputs], store: str | Path | None, paths: list[str],
                       hashes: list[str], batch_size: int = 32) -> list[np.ndarray]:
    """The head's probabilities under each view for image files: a view's stored features when the store
    holds them, else computed from the file by the view's extractor (new images are not cached)."""
    out = []
    for view in inputs:
        config_views = None
        if store is not None and not any(_lacks_config(Path(store), c) for c in view.configs):
            config_views = view.views(store, head_id="the head's test-time view")
        stored = view.present(config_views, hashes) if config_views else np.zeros(len(hashes), bool)
        parts = [np.zeros((len(hashes), *shape), np.float32) for shape in view.shapes]
        if stored.any():
            for part, values in zip(parts, view.stored(config_views, [h for h, s in zip(hashes, stored) if s])):
                part[stored] = values
        fresh = np.flatnonzero(~stored)
        if len(fresh):
            computed, _, reasons = view.compute([paths[i] for i in fresh], batch_size)
            bad = [paths[i] for i, r in zip(fresh, reasons) if r]
            if bad:
                raise HeadError(f"Test-time view {view.configs[0].augment['tta']} could not read {bad[0]}.")
            for part, values in zip(parts, computed):
                part[fresh] = values
        out.append(model.predict_proba(parts))
    return out


def cross_validated(model, plain_parts: Sequence[np.ndarray], view_parts: list[Sequence[np.ndarray]],
                    labels: np.ndarray, cv: int = 5, seed: int = 0, class_names=None) -> dict:
    """Accuracy by k-fold cross-validation on (train) rows without and with the test-time views: the head
    refitted on each fold's plain rows (model.fit_clone), its held-out rows scored plain and averaged over
    views. The honest way to choose whether to use the views (the split it is run on decides nothing else).
    The folds are heads.kinds.folds': a class smaller than the folds stays in every training fold and is
    not scored (`kept_in_training`, and `note` names it); when every class has a single image nothing can be
    held out, and both accuracies are None. `class_names` (indexed by the labels) name them in the note."""
    if not hasattr(model, "fit_clone"):
        raise HeadError("This kind of head (fine-tuned or ensemble) cannot be refitted on folds, so --cv cannot judge "
                        "its test-time views on train: decide on validation and report the test split.")
    labels = np.asarray(labels)
    folds, scheme = cv_folds(cv, labels, seed)
    plain_hits, tta_hits = [], []
    for train, held in folds:
        fitted = model.fit_clone([p[train] for p in plain_parts], labels[train])
        plain = fitted.predict_proba([p[held] for p in plain_parts])
        viewed = [fitted.predict_proba([p[held] for p in parts]) for parts in view_parts]
        classes = np.asarray(fitted.classes_)
        plain_hits.append(classes[plain.argmax(axis=1)] == labels[held])
        tta_hits.append(classes[average(plain, viewed).argmax(axis=1)] == labels[held])
    held_out = int(sum(len(h) for h in plain_hits))
    return {"split": "train", "cv": scheme["folds"], "cv_asked": cv, "cv_scheme": scheme["scheme"],
            "kept_in_training": jsonable(scheme["kept_in_training"]), "held_out": held_out,
            "views": len(view_parts),
            "plain_cv_accuracy": float(np.concatenate(plain_hits).mean()) if held_out else None,
            "tta_cv_accuracy": float(np.concatenate(tta_hits).mean()) if held_out else None,
            "note": kept_note(scheme, class_names, judged="the accuracies are over the other classes",
                              unjudged="the test-time views cannot be judged on train")}
