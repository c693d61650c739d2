"""`heads eval` and `heads list`: a head's numbers again on any split, and every head of a store ranked.

Eval reads the head's inputs from the store it was trained on (or one given, which must hold
the head's exact configurations) for the rows heads.binding allows: classes matched by name,
rows kept in the split the head recorded for them, every difference said in one line. Rows
are read a bounded number at a time, so a split larger than memory is scored all the same.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads import binding, metrics as metrics_mod
from heads.artifact import LoadedHead, list_heads, load_head, resolve_head
from heads.data import buffer_rows_for, default_memory_limit_mb
from heads.errors import HeadError
from store import FeatureStore, is_store


def head_data(loaded: LoadedHead, store: str | Path | None = None, dataset: str | None = None):
    """(dataset index, a view per input configuration, notes) for scoring a head.

    The default dataset is the head's own; another (a test folder extracted as its own dataset)
    is named with `dataset`."""
    store = Path(store) if store is not None else loaded.store
    if not is_store(store):
        raise HeadError(f"Not a feature store (no store.json). Received: {store}")
    features = FeatureStore(store)
    own = loaded.record["data"]["dataset"]
    notes: list[str] = []
    if dataset is None and own not in features.datasets():
        index, _ = features.dataset_choice(None)
        notes.append(f"Store {store} has no dataset {own!r} (the head's); scoring on dataset {index.name!r}.")
    else:
        index = features.dataset(dataset or own)
    views = loaded.inputs.views(store, index.name, loaded.head_id)
    notes += binding.check_classes(loaded.class_names, index)
    if index.name == own and index.digest() != loaded.record["data"]["digest"]:
        notes.append(f"The data under head {loaded.head_id} changed since it was fitted (dataset {own}): rows are "
                     f"matched by content and class name, and keep the split the head recorded.")
    return index, views, notes


def predict_rows(loaded: LoadedHead, views, hashes: list[str], chunk_rows: int) -> np.ndarray:
    """The head's probabilities for stored rows, a bounded number of rows at a time."""
    proba = np.zeros((len(hashes), len(loaded.classes_)))
    for positions, parts in loaded.inputs.read_chunks(views, hashes, chunk_rows):
        proba[positions] = loaded.predict_proba(parts)
    return proba


def eval_head(head: str | Path, split: str = "validation", store: str | Path | None = None,
              dataset: str | None = None, memory_limit_mb: float | None = None) -> dict:
    """Metrics of a head on one split of its data (or of `dataset`), with a note for each difference."""
    loaded = load_head(resolve_head(head, store))
    index, views, notes = head_data(loaded, store, dataset)
    rows = binding.rows_to_score(loaded.class_names, loaded.rows, index, split, loaded.record["train_split"])
    rows = loaded.inputs.with_features(views, rows)
    if len(rows) == 0:
        raise HeadError(f"The {split!r} split of dataset {index.name} has no rows head {loaded.head_id} can be "
                        f"scored on. Splits: {', '.join(index.split_names())}")
    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    chunk = buffer_rows_for(loaded.inputs.shapes[0], limit, 512)
    proba = predict_rows(loaded, views, rows.hashes, chunk)
    result = metrics_mod.classification_metrics(rows.labels, proba, loaded.classes_, loaded.class_names)
    result.update(head_id=loaded.head_id, split=split, dataset=index.name, notes=notes + rows.notes)
    return result


def _rank_key(record: dict, split: str):
    summary = record.get("metrics", {}).get(split) or {}
    accuracy = summary.get("accuracy")
    loss = summary.get("log_loss")
    return (-(accuracy if accuracy is not None else -1.0), loss if loss is not None else float("inf"))


def list_store_heads(store: str | Path, config: str | None = None, split: str = "validation",
                     dataset: str | None = None) -> list[dict]:
    """Every head of the store (optionally reading one configuration, or fitted on one dataset), best first by
    `split` accuracy then log loss; `data_changed` says when the dataset a head was fitted on has changed since
    (compared by digest)."""
    features = FeatureStore(store)
    wanted = features.select(config).config_id if config is not None else None
    if dataset is not None:
        features.dataset(dataset)  # an unknown name: one line naming the known ones
    digests: dict[str, str | None] = {}
    rows = []
    for folder, record in list_heads(store):
        ids = [c["config_id"] for c in record["inputs"]]
        if wanted is not None and wanted not in ids:
            continue
        name = record["data"]["dataset"]
        if dataset is not None and name != dataset:
            continue
        if name not in digests:
            digests[name] = features.dataset(name).digest() if name in features.datasets() else None
        rows.append({**record, "folder": str(folder), "data_changed": digests[name] != record["data"]["digest"]})
    return sorted(rows, key=lambda r: _rank_key(r, split))
