"""What a report says about a head, gathered as plain data (no HTML here).

Everything comes from the head folder (head.json, metrics.json, its PNGs) and from the store's
features, never from running a backbone: the predictions behind the gallery of mistakes are the
head on the stored features of each split's rows, the rows `heads eval` scores (heads.binding).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heads import binding
from heads.artifact import LoadedHead
from heads.data import buffer_rows_for, default_memory_limit_mb
from heads.evaluate import head_data, predict_rows
from heads.record import METRICS_FILE
from store import ConfigNames, FeatureStore, is_store, read_json


@dataclass
class Mistake:
    """One confidently wrong image: its file (None when not readable here), true and predicted class."""

    path: Path | None
    shown_path: str  # relative to the data root, as the dataset indexes it
    true_class: str
    predicted_class: str
    probability: float  # the head's probability of the predicted class


@dataclass
class SplitMistakes:
    split: str
    scored: int  # rows of the split the head was scored on
    wrong: int
    shown: list[Mistake] = field(default_factory=list)


def full_metrics(loaded: LoadedHead) -> dict:
    """metrics.json: per split, accuracy, per-class precision/recall/F1, confusion matrix, log loss."""
    path = loaded.folder / METRICS_FILE
    return read_json(path) if path.is_file() else {}


def parameters(record: dict) -> dict:
    """The estimator's parameters as fitted (finetune: the recipe), then what the user set."""
    params = dict(record.get("params") or {})
    if record.get("finetune"):
        params.update({k: v for k, v in record["finetune"].items()
                       if isinstance(v, (int, float, str, bool)) or v is None})
    return params


def input_rows(loaded: LoadedHead) -> list[dict]:
    """One row per store configuration the head reads: what turns an image into its input."""
    names = FeatureStore(loaded.store).names() if is_store(loaded.store) else ConfigNames([])
    rows = []
    for config in loaded.inputs.configs:
        name = names.name(config)
        rows.append({"configuration": f"{name} ({config.config_id})" if name != config.config_id else name,
                     "backbone": config.backbone
                     + (f" (alpha {config.alpha})" if config.alpha else ""),
                     "weights": f"{config.weights_source or 'imagenet'} (sha256 {config.weights_sha256[:12]})",
                     "size / resize": f"{config.size} px / {config.resize}", "preprocess": config.preprocess,
                     "layer / pool": f"{config.layer} / {config.pool}", "dtype": config.dtype,
                     "features": " x ".join(str(d) for d in config.feature_shape or ())})
    return rows


def mistakes(loaded: LoadedHead, per_split: int, store: str | Path | None = None) -> tuple[list[SplitMistakes], list[str]]:
    """The `per_split` most confidently wrong images of every split the head was scored on, from stored
    features, with the notes that scoring said (data changed since the fit, rows without features)."""
    index, views, notes = head_data(loaded, store)
    limit = default_memory_limit_mb()
    chunk = buffer_rows_for(loaded.inputs.shapes[0], limit, 512)
    row_of = {path: row for row, path in enumerate(index.paths)}
    names = loaded.class_names
    found = []
    for split in loaded.record.get("metrics", {}):
        rows = binding.rows_to_score(names, loaded.rows, index, split, loaded.record["train_split"])
        rows = loaded.inputs.with_features(views, rows)
        notes += rows.notes
        if len(rows) == 0:
            found.append(SplitMistakes(split, 0, 0))
            continue
        proba = predict_rows(loaded, views, rows.hashes, chunk)
        predicted = loaded.labels_[np.argmax(proba, axis=1)]
        confidence = proba.max(axis=1)
        wrong = np.flatnonzero(predicted != rows.labels)
        worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:per_split]
        shown = []
        for i in worst:
            try:
                path = index.absolute(row_of[rows.paths[i]])
            except (KeyError, ValueError):  # a path the index confines out of its root is not opened
                path = None
            shown.append(Mistake(path, rows.paths[i], names[int(rows.labels[i])], names[int(predicted[i])],
                                 float(confidence[i])))
        found.append(SplitMistakes(split, len(rows), len(wrong), shown))
    return found, notes


def head_pictures(loaded: LoadedHead) -> dict[str, Path]:
    """The PNGs fit/finetune left in the head folder: confusion_<split>.png, learning_curves.png."""
    return {path.stem: path for path in sorted(loaded.folder.glob("*.png"))}
