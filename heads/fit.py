"""`heads fit` as a Python function: pick the dataset and features, fit (or search), score every split,
publish the head bound to the rows it saw.

Honest numbers: the head is fitted, and a search chooses, on the train split only; the
other splits (validation, test) are scored after the fact (and, for dense heads, the
validation split is recorded per epoch for the learning curves, never used to stop or
choose). A row of another split whose content is also a train image is not scored there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from heads import artifact, binding, metrics as metrics_mod, plots, record as records
from heads.data import StreamSource, buffer_rows_for, default_memory_limit_mb, row_bytes
from heads.errors import HeadError
from heads.incremental import STREAM_BATCH, fit_pipeline_stream, predict_proba_stream
from heads.inputs import HeadInputs
from heads.kinds import persist
from heads.kinds.registry import KINDS, classifier_of, get_kind, make_head, search_space
from store import FeatureStore

# --option -> estimator parameter, for the options the CLI spells out
OPTION_PARAMS = {"hidden": "hidden", "dropout": "dropout", "optimizer": "optimizer",
                 "learning_rate": "learning_rate", "epochs": "epochs", "batch_size": "batch_size",
                 "patience": "patience", "xla": "jit_compile"}


@dataclass
class FitResult:
    head_id: str
    folder: Path
    record: dict
    metrics: dict[str, dict]
    estimator: Any
    notes: list[str]  # one line each: what the data held that the user should know (left-out rows...)


def _merge_options(kind: str, params: dict | None, options: dict[str, Any]) -> dict:
    merged = dict(params or {})
    spec = get_kind(kind)
    for option, value in options.items():
        if value is None:
            continue
        name = OPTION_PARAMS[option]
        if name not in spec.parameters():
            takers = ", ".join(k.name for k in KINDS.values() if name in k.parameters())
            raise HeadError(f"--{option.replace('_', '-')} applies to kinds: {takers}. Received: --kind {spec.name}")
        merged[name] = tuple(value) if option == "hidden" else value
    return merged


def _search(estimator, kind: str, fixed: dict, cv: int, seed: int, X, y):
    if cv < 2:
        raise HeadError(f"--cv must be at least 2 folds. Received: {cv}")
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < cv:
        raise HeadError(f"--cv {cv} needs at least {cv} train images per class; the smallest class has "
                        f"{counts.min()}.")
    grid = search_space(kind, fixed)
    search = GridSearchCV(estimator, grid, cv=StratifiedKFold(cv, shuffle=True, random_state=seed),
                          scoring="accuracy", refit=True, error_score="raise")
    search.fit(X, y)
    results = search.cv_results_
    candidates = [
        {"params": records.jsonable(results["params"][i]), "mean_accuracy": float(results["mean_test_score"][i]),
         "std_accuracy": float(results["std_test_score"][i]), "rank": int(results["rank_test_score"][i])}
        for i in np.argsort(results["rank_test_score"], kind="stable")
    ]
    record = {"split": "train", "cv": cv, "scoring": "accuracy", "grid": records.jsonable(grid),
              "best_params": records.jsonable(search.best_params_), "best_cv_accuracy": float(search.best_score_),
              "candidates": candidates}
    return search.best_estimator_, record


def fit_head(store: str | Path, kind: str, config: str | None = None, params: dict | None = None,
             reduce: str = "flatten", class_weight: str | None = None, seed: int = 0, search: bool = False,
             cv: int = 5, stream: bool | None = None, memory_limit_mb: float | None = None,
             out: str | Path | None = None, hidden: tuple[int, ...] | None = None, dropout: float | None = None,
             optimizer: str | None = None, learning_rate: float | None = None, epochs: int | None = None,
             batch_size: int | None = None, patience: int | None = None, xla: bool | None = None,
             train_split: str = "train", dataset: str | None = None,
             on_epoch: Callable[[int, dict], None] | None = None,
             on_stage: Callable[[str], None] | None = None) -> FitResult:
    """Fit one head on a store's cached features and publish it as `<store>/heads/<id>/` (or `out`).
    `dataset`: which dataset of the store (default: the only one, or the newest, said in a note)."""
    stage = on_stage or (lambda message: None)
    kind = getattr(kind, "value", kind)
    spec = get_kind(kind)
    params = _merge_options(kind, params, {"hidden": hidden, "dropout": dropout, "optimizer": optimizer,
                                           "learning_rate": learning_rate, "epochs": epochs,
                                           "batch_size": batch_size, "patience": patience, "xla": xla})
    estimator = make_head(kind, params, reduce, class_weight, seed)
    artifact.check_out(out)
    reduce, class_weight = getattr(reduce, "value", reduce), getattr(class_weight, "value", class_weight)
    features = FeatureStore(store)
    index, choice_note = features.dataset_choice(dataset)
    view = features.view(config, index.name)
    inputs = HeadInputs((view.config,))
    feature_shape = tuple(view.config.feature_shape)
    if reduce != "flatten" and len(feature_shape) != 3:
        raise HeadError(f"--reduce {reduce} pools a spatial grid, but configuration {view.config.config_id} holds "
                        f"features of shape {feature_shape}. Allowed here: flatten")
    class_names = list(index.classes)
    notes = [choice_note] if choice_note else []
    train_rows = inputs.with_features([view], binding.fit_rows(index, class_names, train_split, train_split))
    if len(train_rows) == 0:
        raise HeadError(f"The {train_split!r} split of dataset {index.name} has no features of configuration "
                        f"{view.config.config_id}. Splits: {', '.join(index.split_names())}")
    other_splits = [s for s in index.split_names() if s not in (train_split, "unlabelled")]
    scoring = {split: inputs.with_features([view], binding.fit_rows(index, class_names, split, train_split))
               for split in other_splits}
    scoring = {split: rows for split, rows in scoring.items() if len(rows)}
    notes += train_rows.notes + [n for rows in scoring.values() for n in rows.notes]
    for split, rows in [(train_split, train_rows), *scoring.items()]:
        absent = [name for i, name in enumerate(class_names) if not np.any(rows.labels == i)]
        if absent and split in (train_split, "validation"):
            consequence = "the head cannot predict them" if split == train_split else "not scored there"
            notes.append(f"Classes with no {split} image: {', '.join(absent)} ({consequence}).")

    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    need_mb = 2 * row_bytes(feature_shape) * len(train_rows) / 2**20  # store rows + float32 copy
    streaming = need_mb > limit if stream is None else bool(stream)
    if streaming and not spec.incremental:
        streamers = ", ".join(k.name for k in KINDS.values() if k.incremental)
        raise HeadError(f"Kind {kind} trains in memory only, and the train split needs about {need_mb:.0f} MB "
                        f"(memory limit {limit:.0f} MB{'' if stream is None else ', streaming asked'}). "
                        f"Kinds that stream: {streamers}; or raise --memory-limit.")
    if streaming and search:
        raise HeadError("--search needs the train split in memory (cross-validation); it does not stream. "
                        f"The train split needs about {need_mb:.0f} MB; memory limit {limit:.0f} MB.")
    batch = int(getattr(estimator, "batch_size", 0) or STREAM_BATCH)
    buffer_rows = buffer_rows_for(feature_shape, limit, batch)

    started = time.perf_counter()
    search_record = None
    in_memory: dict[str, np.ndarray] = {}
    if streaming:
        stage(f"streaming {len(train_rows)} train rows from the store (buffer {buffer_rows} rows)")
        source = StreamSource.for_rows(view, train_rows, buffer_rows)
        if spec.keras:
            estimator.fit_stream(source, on_epoch=on_epoch)
        else:
            fit_pipeline_stream(estimator, source, seed=seed, on_epoch=on_epoch)
    else:
        stage(f"reading {len(train_rows)} train rows into memory")
        X = in_memory[train_split] = view.features_for(train_rows.hashes)
        if search:
            stage(f"searching {kind} parameters by {cv}-fold cross-validation on the train split")
            estimator, search_record = _search(estimator, kind, dict(params), cv, seed, X, train_rows.labels)
        elif spec.keras:
            monitor = None
            held = scoring.get("validation")
            if held is not None and 2 * row_bytes(feature_shape) * len(held) / 2**20 + need_mb <= limit:
                in_memory["validation"] = view.features_for(held.hashes)
                monitor = (in_memory["validation"], held.labels)
            estimator.fit(X, train_rows.labels, monitor=monitor, on_epoch=on_epoch)
        else:
            estimator.fit(X, train_rows.labels)
    fit_seconds = time.perf_counter() - started

    stage("scoring every split")
    classes = np.asarray(estimator.classes_)
    scores: dict[str, dict] = {}
    for split, rows in [(train_split, train_rows), *scoring.items()]:
        if split in in_memory:
            proba, labels = _proba_in_chunks(estimator, in_memory[split]), rows.labels
        else:  # streamed in shard order: the labels come along with their rows
            proba, labels = predict_proba_stream(estimator, StreamSource.for_rows(view, rows, buffer_rows),
                                                 batch_size=min(STREAM_BATCH, buffer_rows))
        scores[split] = metrics_mod.classification_metrics(labels, proba, classes, class_names)

    head_id = records.new_head_id(kind)
    folder = Path(out) if out is not None else artifact.heads_dir(store) / head_id
    clf = classifier_of(estimator)
    seen = [train_rows, *scoring.values()]
    record = {
        **records.base_record(head_id, kind),
        "estimator": type(estimator).__name__, "classifier": f"{type(clf).__module__}.{type(clf).__name__}",
        "params": records.jsonable(clf.get_params(deep=False)), "user_params": records.jsonable(params),
        "reduce": reduce, "class_weight": class_weight or "none", "seed": seed,
        "search": search_record, "streamed": streaming, "memory_limit_mb": round(limit, 1),
        "store": str(Path(store).resolve()), "inputs": inputs.to_record(), "config_id": view.config.config_id,
        "input_shape": list(feature_shape),
        "data": records.data_record(index, index.digest(), class_names, {r.split: len(r) for r in seen},
                                    train_split, notes),
        "classes": classes.tolist(), "columns": [class_names[c] for c in classes],
        "sizes": {split: int(m["n"]) for split, m in scores.items()}, "train_split": train_split,
        "fit_seconds": round(fit_seconds, 3), "exportable": spec.exportable,
        "metrics": {split: metrics_mod.summary(m) for split, m in scores.items()},
    }
    stage(f"writing {folder}")
    with artifact.staged_folder(folder) as tmp:
        record["model_file"] = persist.save_estimator(clf if spec.keras else estimator, tmp)
        records.write_rows(tmp, records.HeadRows(
            np.concatenate([np.asarray(r.hashes, dtype=str) for r in seen]),
            np.concatenate([np.full(len(r), r.split, dtype=object) for r in seen]).astype(str),
            np.concatenate([r.labels for r in seen])))
        if spec.keras:
            record["dense"] = persist.dense_state(estimator)
            record["dense"]["history_file"] = artifact.HISTORY_FILE
            records.write_json(tmp / artifact.HISTORY_FILE, estimator.history_)
            plots.learning_curves_png(estimator.history_, tmp / "learning_curves.png",
                                      f"{head_id} on {view.config.config_id}", estimator.best_epoch_)
        for split, split_metrics in scores.items():
            plots.confusion_png(split_metrics, tmp / f"confusion_{split}.png", f"{head_id}: {split}")
        records.write_json(tmp / records.METRICS_FILE, scores)
        records.write_json(tmp / records.HEAD_FILE, record)
    return FitResult(head_id, folder, record, scores, estimator, notes)


def _proba_in_chunks(estimator, features: np.ndarray, chunk: int = 2048) -> np.ndarray:
    parts = [estimator.predict_proba(features[i:i + chunk]) for i in range(0, len(features), chunk)]
    return np.concatenate(parts)
