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
from typing import Any, Callable, Sequence

import numpy as np

from heads import artifact, metrics as metrics_mod, plots, record as records
from heads.data import buffer_rows_for, default_memory_limit_mb
from heads.errors import HeadError
from heads.exclusion import exclusion_for
from heads.fit_data import FitData
from heads.incremental import STREAM_BATCH, fit_pipeline_stream, predict_proba_stream
from heads.kinds.registry import KINDS, classifier_of, get_kind, make_head
from heads.kinds.selection import AUTO, search_kind, select_kind, selection_notes

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

    def to_frame(self):
        """Scores per split as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per split scored (index: split), columns n, accuracy, balanced_accuracy, macro_f1,
            log_loss.
        """
        import pandas as pd

        return pd.DataFrame.from_dict({s: metrics_mod.summary(m) for s, m in self.metrics.items()}, orient="index")

    def __repr__(self) -> str:
        scores = ", ".join(f"{s} accuracy {m.get('accuracy', float('nan')):.4f}" for s, m in self.metrics.items())
        return f"FitResult(head {self.head_id}, {self.record.get('kind')}: {scores or 'no scores'}; {self.folder})"


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


def fit_head(store: str | Path, kind: str, config: str | Sequence[str] | None = None, params: dict | None = None,
             reduce: str | Sequence[str] = "auto", class_weight: str | None = None, seed: int = 0,
             search: bool = False, cv: int = 5, exportable_only: bool = True, budget: float | None = None, stream: bool | None = None, memory_limit_mb: float | None = None,
             out: str | Path | None = None, hidden: tuple[int, ...] | None = None, dropout: float | None = None,
             optimizer: str | None = None, learning_rate: float | None = None, epochs: int | None = None,
             batch_size: int | None = None, patience: int | None = None, xla: bool | None = None,
             train_split: str = "train", dataset: str | None = None,
             exclude: str | Path | None = None, exclude_suspects: bool = False,
             on_epoch: Callable[[int, dict], None] | None = None,
             on_stage: Callable[[str], None] | None = None) -> FitResult:
    """Fit one head on a store's cached features and publish it as `<store>/heads/<id>/` (or `out`).

    `config`: one configuration, or several whose features are joined by image content (each reduced
    as its `reduce` says: one mode for all, or one per configuration; `auto` flattens a small grid and
    averages a large one). `kind="auto"`: the kinds of heads.kinds.selection tried by cross-validation
    on the train split, the best kept (among exportable candidates unless `exportable_only=False`: what it
    leaves out is said in a note). `dataset`: which dataset of the store (default: the only one, or
    the newest, said in a note). `exclude` (a file of paths or content hashes, e.g. a `heads
    inspect` table) and `exclude_suspects` (the train images cleanlab flags, heads.inspection.suspects) leave
    train rows out; the record's data.excluded names them (heads.exclusion).

    Parameters
    ----------
    store : str or Path
        The feature store.
    kind : str
        A head kind (`heads kinds` lists them: logreg, svm, knn, forest, dense, ...) or "auto".
    config : str or list of str, optional
        Configuration id(s) or readable name(s); default: the store's only one.
    params : dict, optional
        The kind's parameters (checked before any data is read).
    reduce : str or list of str, default "auto"
        How spatial features become a vector: flatten, avg, max or auto.
    class_weight : str, optional
        "balanced" to weigh classes by inverse frequency.
    seed : int, default 0
        Every random choice.
    search, cv
        Search the kind's parameters by `cv`-fold cross-validation on the train split.
    budget : float, optional
        Seconds `kind="auto"` may spend: no new candidate is tried once they are spent.
    exportable_only, stream, memory_limit_mb, exclude, exclude_suspects, dataset, train_split
        As above; `stream` trains incremental kinds chunk by chunk (default: when over the memory limit).
    out : str or Path, optional
        The head folder (default `<store>/heads/<id>`); refused when it exists and is not empty.
    hidden, dropout, optimizer, learning_rate, epochs, batch_size, patience, xla
        The dense head's options.
    on_epoch, on_stage : callable, optional
        Called per epoch (epoch, logs) and with a short line at each stage.

    Returns
    -------
    FitResult
        head_id, folder, record, metrics per split (`to_frame()`: one row per split), the fitted
        estimator and notes.

    Raises
    ------
    HeadError
        On a bad kind, parameter, configuration or dataset (one line, before any data is read where possible).

    Examples
    --------
    >>> result = fit_head("store", "logreg")   # doctest: +SKIP
    >>> result.to_frame()["accuracy"]          # doctest: +SKIP
    """
    stage = on_stage or (lambda message: None)
    kind = getattr(kind, "value", kind)
    auto = kind == AUTO
    options = {"hidden": hidden, "dropout": dropout, "optimizer": optimizer, "learning_rate": learning_rate,
               "epochs": epochs, "batch_size": batch_size, "patience": patience, "xla": xla}
    if auto:
        given = sorted([f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None] +
                       [f"--param {k}" for k in params or {}] + ["--search"] * bool(search))
        if given:
            raise HeadError(f"--kind auto searches each kind's own parameters; it takes none of its own. Received: "
                            f"{', '.join(given)}")
        params, spec = {}, None
    else:
        spec = get_kind(kind)
        params = _merge_options(kind, params, options)
        make_head(kind, params, "flatten", class_weight, seed)  # parameters refused before any data is read
    artifact.check_out(out)
    class_weight = getattr(class_weight, "value", class_weight)
    first_config = config if config is None or isinstance(config, str) else (list(config) or [None])[0]
    exclusion = exclusion_for(store, first_config, dataset, exclude, exclude_suspects, seed)
    data = FitData.prepare(store, config, dataset, reduce, train_split, exclusion)
    estimator = None if auto else make_head(kind, params, data.estimator_reduce, class_weight, seed)
    train_rows, scoring, notes, class_names = data.train, data.scoring, data.notes, data.class_names

    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    need_mb = data.need_mb(train_rows)
    streaming = need_mb > limit if stream is None else bool(stream)
    if streaming and (auto or not spec.incremental):
        streamers = ", ".join(k.name for k in KINDS.values() if k.incremental)
        raise HeadError(f"Kind {kind} trains in memory only, and the train split needs about {need_mb:.0f} MB "
                        f"(memory limit {limit:.0f} MB{'' if stream is None else ', streaming asked'}). "
                        f"Kinds that stream: {streamers}; or raise --memory-limit.")
    if streaming and search:
        raise HeadError("--search needs the train split in memory (cross-validation); it does not stream. "
                        f"The train split needs about {need_mb:.0f} MB; memory limit {limit:.0f} MB.")
    batch = int(getattr(estimator, "batch_size", 0) or STREAM_BATCH)
    buffer_rows = buffer_rows_for(data.model_input_shape, limit, batch)

    started = time.perf_counter()
    search_record, choice_notes = None, []
    in_memory: dict[str, np.ndarray] = {}
    if streaming:
        stage(f"streaming {len(train_rows)} train rows from the store (buffer {buffer_rows} rows)")
        source = data.stream(train_rows, buffer_rows)
        if spec.keras:
            estimator.fit_stream(source, on_epoch=on_epoch)
        else:
            fit_pipeline_stream(estimator, source, seed=seed, on_epoch=on_epoch)
    else:
        stage(f"reading {len(train_rows)} train rows into memory"
              + (f", joining {' + '.join(data.inputs.ids)}" if data.joined else ""))
        X = in_memory[train_split] = data.read(train_rows)
        if auto:
            kind, estimator, search_record = select_kind(data.estimator_reduce, class_weight, seed, cv, X,
                                                         train_rows.labels, stage, exportable_only, budget)
            if search_record["not_exportable"]:
                choice_notes.append(f"--kind auto chose among exportable heads; left out: "
                             f"{'; '.join(search_record['not_exportable'])}. Give --unexportable to try them too.")
            spec = get_kind(kind)
        elif search:
            stage(f"searching {kind} parameters by {cv}-fold cross-validation on the train split")
            estimator, search_record = search_kind(kind, dict(params), estimator, cv, seed, X, train_rows.labels,
                                                   budget, stage)
        elif spec.keras:
            monitor = None
            held = scoring.get("validation")
            if held is not None and data.need_mb(held) + need_mb <= limit:
                in_memory["validation"] = data.read(held)
                monitor = (in_memory["validation"], held.labels)
            estimator.fit(X, train_rows.labels, monitor=monitor, on_epoch=on_epoch)
        else:
            estimator.fit(X, train_rows.labels)
        if search_record is not None:
            choice_notes += selection_notes(search_record, class_names)
    fit_seconds = time.perf_counter() - started

    stage("scoring every split")
    classes = np.asarray(estimator.classes_)
    scores: dict[str, dict] = {}
    for split, rows in [(train_split, train_rows), *scoring.items()]:
        if split in in_memory:
            proba, labels = _proba_in_chunks(estimator, in_memory[split]), rows.labels
        else:  # read a chunk at a time (streamed in shard order: the labels come along with their rows)
            if not streaming:
                proba, labels = data.predict_proba(estimator, rows), rows.labels
            else:
                proba, labels = predict_proba_stream(estimator, data.stream(rows, buffer_rows),
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
        "class_weight": class_weight or "none", "seed": seed, "search": search_record,
        "selection": _selection(auto, search_record, cv), "streamed": streaming, "memory_limit_mb": round(limit, 1),
        "store": str(Path(store).resolve()), **data.record(),
        "data": records.data_record(data.index, data.index.digest(), class_names, {r.split: len(r) for r in seen},
                                    train_split, notes),
        "excluded": exclusion.record(data.excluded) if exclusion else None,
        "classes": classes.tolist(), "columns": [class_names[c] for c in classes],
        "sizes": {split: int(m["n"]) for split, m in scores.items()}, "train_split": train_split,
        "fit_seconds": round(fit_seconds, 3), "exportable": spec.export_refusal(clf.get_params(deep=False)) is None,
        "metrics": {split: metrics_mod.summary(m) for split, m in scores.items()},
    }
    stage(f"writing {folder}")
    with artifact.staged_folder(folder) as tmp:
        record.update(spec.save(clf if spec.keras else estimator, tmp))
        records.write_rows(tmp, records.HeadRows(
            np.concatenate([np.asarray(r.hashes, dtype="S64") for r in seen]),
            np.concatenate([np.full(len(r), r.split, dtype=object) for r in seen]).astype(str),
            np.concatenate([r.labels for r in seen])))
        if spec.keras:
            plots.learning_curves_png(estimator.history_, tmp / "learning_curves.png",
                                      f"{head_id} on {' + '.join(data.inputs.ids)}", estimator.best_epoch_)
        for split, split_metrics in scores.items():
            plots.confusion_png(split_metrics, tmp / f"confusion_{split}.png", f"{head_id}: {split}")
        records.write_json(tmp / records.METRICS_FILE, scores)
        records.write_json(tmp / records.HEAD_FILE, record)
    return FitResult(head_id, folder, record, scores, estimator, notes + choice_notes)


def _selection(auto: bool, search_record: dict | None, cv: int) -> dict:
    """What was chosen and where (heads list and the README say a figure is honest only off that split)."""
    if search_record is None:
        return {"chosen": [], "on": None}
    chosen = ["kind", "parameters"] if auto else ["parameters"]
    return {"chosen": chosen, "on": f"train split, {search_record['cv']}-fold cross-validation",
            "cv_scheme": search_record["cv_scheme"], "budget_s": search_record["budget_s"],
            "budget_hit": search_record["budget_hit"]}


def _proba_in_chunks(estimator, features: np.ndarray, chunk: int = 2048) -> np.ndarray:
    parts = [estimator.predict_proba(features[i:i + chunk]) for i in range(0, len(features), chunk)]
    return np.concatenate(parts)
