"""`heads eval` and `heads list`: a head's numbers again on any split, and every head of a store ranked.

Eval reads the head's inputs from the store it was trained on (or one given, which must hold
the head's exact configurations) for the rows heads.binding allows: classes matched by name,
rows kept in the split the head recorded for them, every difference said in one line. Rows
are read a bounded number at a time, so a split larger than memory is scored all the same.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from heads import binding, metrics as metrics_mod
from heads.artifact import LoadedHead, list_heads, load_head, resolve_head
from heads.data import chunk_rows_for, default_memory_limit_mb
from heads.errors import HeadError
from heads.eval_result import EvalResult
from heads.tta import average, cache_views, cross_validated, stored_probabilities, view_inputs
from store import FeatureStore, is_store
from store.index_check import edited_reason


def head_data(loaded: LoadedHead, store: str | Path | None = None, dataset: str | None = None):
    """(dataset index, a view per input configuration, notes) for scoring a head.

    The default dataset is the head's own; another (a test folder extracted as its own dataset)
    is named with `dataset`. An index edited after it was written (store.index_check) is refused, as
    `heads fit` refuses it: its labels are the truth the head would be scored against."""
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
    edited = edited_reason(features.layout, index)  # its labels would be the truth scored against: refused as fit does
    if edited:
        raise HeadError(f"Refusing to score: {edited}. `extract run` again indexes the data folder anew "
                        f"(`extract verify` lists such indexes). Received: {store}")
    views = loaded.inputs.views(store, index.name, loaded.head_id)
    notes += binding.check_classes(loaded.class_names, index)
    if index.name == own and index.digest() != loaded.record["data"]["digest"]:
        notes.append(f"The data under head {loaded.head_id} changed since it was fitted (dataset {own}): rows are "
                     f"matched by content and class name, and keep the split the head recorded.")
    return index, views, notes


def predict_rows(loaded: LoadedHead, views, hashes: list[str], chunk_rows: int) -> np.ndarray:
    """The head's probabilities for stored rows, a bounded number of rows at a time (heads.data.chunk_rows_for):
    memory holds the probabilities (rows x classes) and one chunk of features, whatever the split's size."""
    proba = np.zeros((len(hashes), len(loaded.labels_)))
    for positions, parts in loaded.inputs.read_chunks(views, hashes, chunk_rows):
        proba[positions] = loaded.predict_parts(parts)
    return proba


def eval_head(head: str | Path, split: str = "validation", store: str | Path | None = None,
              dataset: str | None = None, memory_limit_mb: float | None = None, tta: int = 0,
              cv: int | None = None, on_stage: Callable[[str], None] | None = None) -> EvalResult:
    """Metrics of a head on one split of its data (or of `dataset`), with a note for each difference.
    `tta`: probabilities averaged over the plain image and that many fixed test-time views (heads.tta),
    extracted into the store the first time. `cv` (with `tta`, on the train split): accuracy by k-fold
    cross-validation without and with the views, the head refitted per fold: the honest way to decide.

    Parameters
    ----------
    head : str or Path
        A head folder, or a head id (or unique prefix) with `store`.
    split : str, default "validation"
        The split to score.
    store : str or Path, optional
        The store the head and its features are read from (default: the head's own).
    dataset : str, optional
        Score another dataset of the store (its classes matched by name).
    memory_limit_mb : float, optional
        Bound on the features read at once.
    tta, cv
        As above.
    on_stage : callable(str), optional
        Called with a short line at each stage.

    Returns
    -------
    EvalResult
        A dict: n, accuracy, balanced_accuracy, macro_f1, log_loss, per-class precision/recall/F1,
        confusion matrix and `notes` (one line per difference between the head's data and what was
        scored); `to_frame()` gives the scored images as a DataFrame (path, true, predicted, correct, a
        probability column per class).

    Raises
    ------
    HeadError
        When the head, split or dataset cannot be scored (one line says why).
    """
    loaded = load_head(resolve_head(head, store))
    if cv is not None and (not tta or split != loaded.record["train_split"]):
        raise HeadError(f"--cv judges test-time views on the train split ({loaded.record['train_split']}), the head "
                        f"refitted per fold: give --tta K and --split {loaded.record['train_split']}. "
                        f"Received: --tta {tta} --split {split}")
    index, views, notes = head_data(loaded, store, dataset)
    rows = binding.rows_to_score(loaded.class_names, loaded.rows, index, split, loaded.record["train_split"])
    rows = loaded.inputs.with_features(views, rows)
    if len(rows) == 0:
        raise HeadError(f"The {split!r} split of dataset {index.name} has no rows head {loaded.head_id} can be "
                        f"scored on. Splits: {', '.join(index.split_names())}")
    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    chunk = chunk_rows_for((sum(math.prod(shape) for shape in loaded.inputs.shapes),), limit, 512)
    proba = predict_rows(loaded, views, rows.hashes, chunk)
    if tta:
        inputs = view_inputs(loaded.inputs, tta)
        view_views = cache_views(inputs, store or loaded.store, index, rows.hashes, on_stage=on_stage)
        proba = average(proba, stored_probabilities(loaded.model, inputs, view_views, rows.hashes, chunk))
        if cv is not None:  # features as stored (float16): half the memory of a float32 copy
            plain = [view.features_for(rows.hashes) for view in views]
            viewed = [[view.features_for(rows.hashes) for view in group] for group in view_views]
            tta_cv = cross_validated(loaded.model, plain, viewed, rows.labels, cv, class_names=loaded.class_names)
            notes = notes + ([tta_cv["note"]] if tta_cv["note"] else [])
    result = metrics_mod.classification_metrics(rows.labels, proba, loaded.labels_, loaded.class_names)
    result.update(head_id=loaded.head_id, split=split, dataset=index.name, notes=notes + rows.notes,
                  tta=[i.configs[0].augment["tta"] for i in view_inputs(loaded.inputs, tta)] if tta else [],
                  tta_cv=tta_cv if cv is not None else None)
    true = np.asarray(loaded.class_names, dtype=str)[np.asarray(rows.labels, dtype=np.int64)]
    return EvalResult(result, rows.paths, true, proba, loaded.classes_, index.data_root)


def rank_key(record: dict, split: str) -> tuple[float, float]:
    """Sort key of heads best first: `split` accuracy (highest first), then log loss (lowest first)."""
    summary = record.get("metrics", {}).get(split) or {}
    accuracy = summary.get("accuracy")
    loss = summary.get("log_loss")
    return (-(accuracy if accuracy is not None else -1.0), loss if loss is not None else float("inf"))


def list_store_heads(store: str | Path, config: str | None = None, split: str = "validation",
                     dataset: str | None = None) -> list[dict]:
    """Every head of the store, best first by `split` accuracy then log loss.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Only heads reading this configuration (id, id prefix or readable name).
    split : str, default "validation"
        The split heads are ranked by.
    dataset : str, optional
        Only heads fitted on this dataset.

    Returns
    -------
    list of dict
        Each head's record (head.json) with `folder`, `data_changed` (the dataset it was fitted on has
        changed since, compared by digest) and `config_names` (the readable names of the configurations it
        reads, store.names).
    """
    features = FeatureStore(store)
    names = features.names()
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
        rows.append({**record, "folder": str(folder), "data_changed": digests[name] != record["data"]["digest"],
                     "config_names": [names.name(i) for i in ids]})
    return sorted(rows, key=lambda r: rank_key(r, split))
