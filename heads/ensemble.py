"""`heads ensemble` as a Python function: several heads on the same classes made one head, published like any.

`mean` averages the members' probabilities (nothing is fitted). `stack` fits a logistic regression on
the members' out-of-fold probabilities of the train split: every member is refitted on k-1 folds and
predicts the fold it did not see, so the stacker learns how far to trust each member on rows it did
not train on; nothing of another split is used. The ensemble holds copies of its members, so it
stays whole when a member's folder is removed.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

from heads import artifact, binding, metrics as metrics_mod, plots, record as records
from heads.errors import HeadError
from heads.inputs import HeadInputs
from heads.kinds.ensemble import (ENSEMBLE_FILE, MEMBERS_DIR, METHODS, STACKER_FILE, EnsembleModel, Member,
                                  column_map)
from heads.kinds.reduce import SpatialReducer
from heads.record import jsonable
from heads.kinds.folds import cv_folds, kept_note, out_of_fold
from store import FeatureStore
from store.index_check import edited_reason

CHUNK = 512
STACKER_C = 1.0


@dataclass
class EnsembleResult:
    head_id: str
    folder: Path
    record: dict
    metrics: dict[str, dict]
    notes: list[str]


def _union(members: list[artifact.LoadedHead]) -> tuple[HeadInputs, list[tuple[int, ...]]]:
    """Every member's configurations, each once, in order of first use; and where each member's are."""
    configs, positions = [], []
    for member in members:
        mine = []
        for config in member.inputs.configs:
            ids = [c.config_id for c in configs]
            if config.config_id not in ids:
                configs.append(config)
                ids.append(config.config_id)
            mine.append(ids.index(config.config_id))
        positions.append(tuple(mine))
    return HeadInputs(tuple(configs)), positions


def _rows_every_member_scores(members: list[artifact.LoadedHead], index, split: str,
                              train_split: str) -> binding.SplitRows:
    """The rows of `split` that every member scores there by its own record (heads.binding.rows_to_score):
    a row one member was trained on, or recorded in another split, is not scored as `split` for any."""
    per_member = [binding.rows_to_score(m.class_names, m.rows, index, split, train_split) for m in members]
    rows = per_member[0]  # its labels index the first member's class names: the ensemble's
    common = set(rows.hashes).intersection(*(r.hashes for r in per_member[1:]))
    kept = rows.subset(np.array([h in common for h in rows.hashes], dtype=bool))
    kept.notes = list(dict.fromkeys(n for r in per_member for n in r.notes))  # each member's notes, once
    dropped = len(set(rows.hashes) - common)
    if dropped:
        kept.notes.append(f"{dropped} rows of {split} are left out: another member was trained on them or recorded "
                          f"them in another split.")
    return kept


def _out_of_fold(member: Member, views, rows, classes: np.ndarray, folds) -> np.ndarray:
    """A member's probabilities of the train rows, each from the member refitted without that row's fold
    (refitted on the ensemble's labels: its columns follow its new classes_, put in the ensemble's order).
    A row no fold holds out (its class is too small, heads.kinds.folds) gets the mean of the fold models'
    probabilities, which were all trained on it; with no folds at all, one model fitted on every row."""
    if not hasattr(member.model, "fit_clone"):
        raise HeadError(f"--method stack refits every member on folds of the train split; head {member.head_id} "
                        f"cannot be refitted (a fine-tuned or ensemble head). Use --method mean.")
    parts = [views[p].features_for(rows.hashes) for p in member.positions]  # float16 as stored: half the memory
    proba = np.zeros((len(rows), len(member.columns)))
    everything = np.arange(len(rows))
    kept = np.setdiff1d(everything, np.concatenate([held for _, held in folds])) if folds else everything
    for train, held in folds or [(everything, np.array([], dtype=int))]:
        fitted = member.model.fit_clone([p[train] for p in parts], rows.labels[train])
        order = [list(fitted.classes_).index(c) for c in classes]
        proba[held] = np.asarray(fitted.predict_proba([p[held] for p in parts]))[:, order]
        if len(kept):
            proba[kept] += np.asarray(fitted.predict_proba([p[kept] for p in parts]))[:, order] / max(len(folds), 1)
    return proba


def _stacker(oof: list[np.ndarray], labels: np.ndarray, classes: np.ndarray, folds, scheme: dict, cv: int):
    """The stacker fitted on every train row; its accuracy and the members' over the rows some fold held out
    (on every row, in-sample, when no fold could be held out)."""
    X = np.hstack(oof)
    stacker = Pipeline([("reduce", SpatialReducer("flatten")), ("scale", "passthrough"),
                        ("clf", LogisticRegression(C=STACKER_C, max_iter=1000))])
    held = np.concatenate([h for _, h in folds]) if folds else np.arange(len(labels))
    stacker.fit(X, labels)
    if folds:
        stacked_cv = float(cross_val_score(stacker, X, labels, cv=folds, scoring="accuracy").mean())
    else:
        stacked_cv = float(np.mean(stacker.predict(X) == labels))
    if not np.array_equal(stacker.classes_, classes):
        raise HeadError("Every class needs train rows to stack the members' probabilities.")
    column = {c: i for i, c in enumerate(classes)}
    truth = np.array([column[c] for c in labels])[held]
    record = {"split": "train", "cv": scheme["folds"], "cv_asked": cv, "cv_scheme": scheme["scheme"],
              "kept_in_training": jsonable(scheme["kept_in_training"]), "scoring": "accuracy",
              "stacker": f"logistic regression, C={STACKER_C}",
              "member_oof_accuracy": [float(np.mean(p[held].argmax(axis=1) == truth)) for p in oof],
              "mean_oof_accuracy": float(np.mean(np.mean(oof, axis=0)[held].argmax(axis=1) == truth)),
              "stack_cv_accuracy": stacked_cv, "best_cv_accuracy": stacked_cv, "best_params": {"method": "stack"},
              "candidates": []}
    return stacker, record


def ensemble_heads(heads: Sequence[str | Path], store: str | Path | None = None, method: str = "mean",
                   cv: int = 5, seed: int = 0, out: str | Path | None = None,
                   on_stage: Callable[[str], None] | None = None) -> EnsembleResult:
    """Make one head of `heads` (folders, or ids in `store`): `method` mean or stack; published as
    `<store>/heads/<id>/` (or `out`), scored on every split of the members' dataset."""
    stage = on_stage or (lambda message: None)
    method = getattr(method, "value", method)
    if method not in METHODS:
        raise HeadError(f"Unknown ensemble method {method!r}. Allowed: {', '.join(METHODS)}")
    if not heads:
        raise HeadError("An ensemble needs at least one head (--head, repeatable).")
    loaded = [artifact.load_head(artifact.resolve_head(h, store)) for h in heads]
    ids = [m.head_id for m in loaded]
    if len(set(ids)) < len(ids):
        raise HeadError(f"Each head once. Received: {', '.join(ids)}")
    datasets = {m.record["data"]["dataset"] for m in loaded}
    if len(datasets) > 1:
        raise HeadError(f"An ensemble's heads are fitted on one dataset; these were fitted on {', '.join(sorted(datasets))}.")
    artifact.check_out(out)
    first = loaded[0]
    store = Path(store) if store is not None else first.store
    class_names, columns = first.class_names, first.columns
    inputs, positions = _union(loaded)
    members = [Member(m.model, pos, column_map(columns, m.columns, m.head_id), m.head_id)
               for m, pos in zip(loaded, positions)]
    features = FeatureStore(store)
    index = features.dataset(first.record["data"]["dataset"])
    edited = edited_reason(features.layout, index)  # its labels would train the stacker and be scored against
    if edited:
        raise HeadError(f"Refusing to combine: {edited}. `extract run` again indexes the data folder anew "
                        f"(`extract verify` lists such indexes). Received: {store}")
    views = inputs.views(store, index.name, "the ensemble")
    train_split = first.record["train_split"]
    splits_trained = {m.head_id: m.record["train_split"] for m in loaded}
    if len(set(splits_trained.values())) > 1:
        raise HeadError(f"An ensemble's heads are fitted on one split (each member's train rows must stay out of "
                        f"the splits it is scored on). Received: "
                        f"{', '.join(f'{h} on {s}' for h, s in splits_trained.items())}")
    notes = [f"Head {m.head_id} was fitted on other data than today's dataset {index.name} (digest differs): rows "
             f"are matched by content and class name and keep the split each member recorded."
             for m in loaded if m.record["data"]["digest"] != index.digest()]
    on_validation = [m.head_id for m in loaded if records.chosen_on_validation(m.record)]
    notes += [f"Head {h} was chosen on the validation split (early stopping): only a test split gives this "
              f"ensemble an honest figure." for h in on_validation]
    split_rows = {s: inputs.with_features(views, _rows_every_member_scores(loaded, index, s, train_split))
                  for s in index.split_names() if s != "unlabelled"}
    split_rows = {s: r for s, r in split_rows.items() if len(r)}
    if train_split not in split_rows:
        raise HeadError(f"Dataset {index.name} has no {train_split} rows with features of {' + '.join(inputs.ids)}.")
    notes += [n for r in split_rows.values() for n in r.notes]

    started = time.perf_counter()
    stacker, search = None, None
    classes = np.asarray(first.labels_)
    if method == "stack":
        train = split_rows[train_split]
        folds, scheme = cv_folds(cv, train.labels, seed)
        stage(f"{out_of_fold({'cv': scheme['folds']})} probabilities of {len(members)} heads on the train split")
        oof = [_out_of_fold(m, views, train, classes, folds) for m in members]
        stacker, search = _stacker(oof, train.labels, classes, folds, scheme, cv)
        kept = kept_note(scheme, class_names, judged="their rows were stacked on the probabilities of members "
                         "trained on them, and the figures are over the other classes",
                         unjudged="the stacker learnt from in-sample probabilities and its figures are in-sample")
        notes += [kept] if kept else []
    model = EnsembleModel(members, classes, method, stacker)
    fit_seconds = time.perf_counter() - started

    stage("scoring every split")
    scores = {}
    for split, rows in split_rows.items():
        proba = np.zeros((len(rows), len(classes)))
        for where, parts in inputs.read_chunks(views, rows.hashes, CHUNK):
            proba[where] = model.predict_proba(parts)
        scores[split] = metrics_mod.classification_metrics(rows.labels, proba, classes, class_names)

    head_id = records.new_head_id("ensemble")
    folder = Path(out) if out is not None else artifact.heads_dir(store) / head_id
    seen = list(split_rows.values())
    member_entries = [{"head_id": m.head_id, "kind": m.kind.name, "folder": f"{MEMBERS_DIR}/{i + 1:02d}-{m.head_id}",
                       "positions": list(pos), "columns": member.columns.tolist(),
                       "inputs": m.inputs.ids, "metrics": m.record.get("metrics", {})}
                      for i, (m, pos, member) in enumerate(zip(loaded, positions, members))]
    params = {"method": method, "cv": cv, "seed": seed}
    record = {
        **records.base_record(head_id, "ensemble"),
        "estimator": "EnsembleModel", "classifier": f"ensemble ({method})", "params": params,
        "user_params": {"method": method, "heads": ids}, "reduce": "none", "class_weight": "none", "seed": seed,
        "search": search, "selection": {"chosen": ["stacker weights"] if stacker is not None else [],
                                        "on": f"train split, {out_of_fold(search)} probabilities" if stacker
                                        else None},
        "members": member_entries, "streamed": False, "store": str(Path(store).resolve()),
        "inputs": inputs.to_record(), "config_id": "+".join(inputs.ids), "input_shape": [],
        "data": records.data_record(index, index.digest(), class_names, {r.split: len(r) for r in seen},
                                    train_split, notes),
        "classes": classes.tolist(), "columns": list(columns), "sizes": {s: int(m["n"]) for s, m in scores.items()},
        "train_split": train_split, "fit_seconds": round(fit_seconds, 3),
        "exportable": all(bool(m.record.get("exportable")) for m in loaded),  # a knn member is no Keras layer
        "chosen_on_validation": bool(on_validation),
        "metrics": {split: metrics_mod.summary(m) for split, m in scores.items()},
    }
    stage(f"writing {folder}")
    with artifact.staged_folder(folder) as tmp:
        for entry, member in zip(member_entries, loaded):
            shutil.copytree(member.folder, tmp / entry["folder"])
        records.write_json(tmp / ENSEMBLE_FILE, {"method": method, "members": [
            {k: e[k] for k in ("head_id", "folder", "positions", "columns")} for e in member_entries]})
        record["model_file"] = ENSEMBLE_FILE
        if stacker is not None:
            import skops.io

            skops.io.dump(stacker, tmp / STACKER_FILE)
            record["stacker_file"] = STACKER_FILE
        records.write_rows(tmp, records.HeadRows(
            np.concatenate([np.asarray(r.hashes, dtype=str) for r in seen]),
            np.concatenate([np.full(len(r), r.split, dtype=object) for r in seen]).astype(str),
            np.concatenate([r.labels for r in seen])))
        for split, split_metrics in scores.items():
            plots.confusion_png(split_metrics, tmp / f"confusion_{split}.png", f"{head_id}: {split}")
        records.write_json(tmp / records.METRICS_FILE, scores)
        records.write_json(tmp / records.HEAD_FILE, record)
    return EnsembleResult(head_id, folder, record, scores, notes)
