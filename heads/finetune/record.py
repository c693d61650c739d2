"""A fine-tuned head on disk, like any head (see heads.artifact), plus what fine-tuning did.

    model.keras   the trained top: activations at the cut -> reopened blocks -> [pool] -> dense head
                  (its input, the plain activations at the cut, is a store configuration: `inputs`)
    head.json     kind "finetune"; `finetune`: the starting head and its numbers, the blocks and layers
                  reopened, the path, the views and their store configurations, the recipe, what early
                  stopping watched, epochs and seconds per epoch
    rows.h5, metrics.json, history.json, learning_curves.png, confusion_<split>.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads import artifact, metrics as metrics_mod, plots, record as records
from heads.finetune.data import TrainingData

FINETUNE_KIND = "finetune"
SERIES = (("", "train (augmented, dropout on)"), ("val_", "held-out rows (early stopping)"),
          ("monitor_", "validation split (not used for stopping)"))


def _start_levels(record: dict):
    """The starting head's validation numbers, drawn as levels on the learning curves."""
    validation = record.get("metrics", {}).get("validation") or {}
    return (f"starting head {record['head_id']} (validation)",
            {"loss": validation.get("log_loss"), "accuracy": validation.get("accuracy")})


def _series(stop_on: str):
    if stop_on == "validation":
        return (SERIES[0], ("val_", "validation split (early stopping)"))
    return SERIES


def publish(target: Path, head_id: str, start, net, recipe, cut_config, training: TrainingData, index, store: Path,
            history: dict, timing: dict, scores: dict, memory_limit_mb: float) -> dict:
    """Write the head folder (staged, renamed into place); returns the record."""
    begun = start.record
    epoch_seconds = [round(s, 3) for s in timing["epoch_seconds"]]
    user_params = {"from": begun["head_id"], "blocks": recipe.blocks, "path": recipe.path}
    if recipe.path == "cached":
        user_params["views"] = recipe.views
    stopping = None
    if recipe.patience:
        watched = len(training.holdout) if recipe.stop_on == "holdout" else len(training.scored.get("validation", ()))
        stopping = {"on": recipe.stop_on, "rows": watched, "patience": recipe.patience, "restore_best_weights": True,
                    "fraction": recipe.holdout_fraction if recipe.stop_on == "holdout" else None,
                    "reported_honestly": [s for s in scores if s not in ("train", "holdout")
                                          and not (recipe.stop_on == "validation" and s == "validation")]}
    finetune = {
        "from_head": begun["head_id"], "from_folder": str(start.folder), "from_metrics": begun.get("metrics", {}),
        "from_config": start.inputs.ids[0], "backbone": cut_config.backbone, "feature_layer": net.plan.layer,
        "blocks": recipe.blocks, "reopened": list(net.plan.reopened), "cut_layer": net.cut_layer,
        "cut_shape": list(net.cut_shape), "trainable_layers": net.trainable_layers,
        "batch_norm": "inference mode: moving statistics, not trained", "path": recipe.path, "views": recipe.views,
        "augment": recipe.augment,
        "view_order": "each epoch: rows reshuffled, one of the K views drawn per row, seeded by (seed, epoch)"
                      if recipe.path == "cached" else "online: Keras random layers in the model",
        **{k: training.extraction.get(k) for k in ("view_configs", "extract_seconds", "extracted", "runtimes")},
        "data_root": index.data_root,
        "optimizer": {"name": "sgd", "learning_rate": recipe.learning_rate, "momentum": recipe.momentum},
        "batch_size": recipe.batch_size, "epochs": recipe.epochs, "early_stopping": stopping,
        "epochs_run": timing["epochs_run"], "best_epoch": timing["best_epoch"], "epoch_seconds": epoch_seconds,
        "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 3) if epoch_seconds else None,
        **{k: round(timing[k], 3) for k in ("prepare_seconds", "fit_seconds", "score_seconds", "total_seconds")},
    }
    classes = np.asarray(start.labels_)
    record = {
        **records.base_record(head_id, FINETUNE_KIND), "estimator": "keras.Model", "classifier": "keras.Model",
        "params": records.jsonable(recipe.get_params()), "user_params": user_params,
        "reduce": begun.get("reduce", "flatten"), "class_weight": "none", "seed": recipe.seed, "search": None,
        "streamed": False, "memory_limit_mb": round(memory_limit_mb, 1), "store": str(Path(store).resolve()),
        "inputs": [cut_config.to_json()], "config_id": cut_config.config_id, "input_shape": list(net.cut_shape),
        "data": records.data_record(index, index.digest(), start.class_names, training.sizes, "train", training.notes),
        "classes": classes.tolist(), "columns": list(begun["columns"]),
        "sizes": {split: int(m["n"]) for split, m in scores.items()}, "train_split": "train",
        "fit_seconds": round(timing["fit_seconds"], 3), "exportable": True,
        "metrics": {split: metrics_mod.summary(m) for split, m in scores.items()},
        "finetune": finetune, "model_file": "model.keras", "history_file": artifact.HISTORY_FILE,
    }
    # held-out rows are train rows of the head's data (never scored as validation later)
    seen = [("train", training.train)] + ([("train", training.holdout)] if training.holdout else []) + \
        list(training.scored.items())
    with artifact.staged_folder(target) as tmp:
        net.top_model().save(tmp / "model.keras")
        records.write_rows(tmp, records.HeadRows(
            np.concatenate([np.asarray(split.hashes, dtype=str) for _, split in seen]),
            np.concatenate([np.full(len(split), name, dtype=object) for name, split in seen]).astype(str),
            np.concatenate([split.labels for _, split in seen])))
        records.write_json(tmp / artifact.HISTORY_FILE, history)
        plots.learning_curves_png(history, tmp / "learning_curves.png",
                                  f"{head_id}: {recipe.path} path, {', '.join(net.plan.reopened)} reopened",
                                  timing["best_epoch"] if stopping else None, series=_series(recipe.stop_on),
                                  baseline=_start_levels(begun))
        for split, split_metrics in scores.items():
            plots.confusion_png(split_metrics, tmp / f"confusion_{split}.png", f"{head_id}: {split}")
        records.write_json(tmp / records.METRICS_FILE, scores)
        records.write_json(tmp / records.HEAD_FILE, record)
    return record
