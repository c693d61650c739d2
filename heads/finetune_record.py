"""A fine-tuned head on disk, like any head (see heads.artifact), plus what fine-tuning did.

    model.keras   the whole classifier: images resized to the configuration's size (RGB 0..255)
                  -> preprocessing -> the base with its fine-tuned blocks -> [pool] -> the head
    head.json     kind "finetune"; `finetune`: the starting head and its numbers, the blocks and
                  layers reopened, the path, the views and their store configurations, the recipe,
                  epochs and seconds per epoch
    metrics.json, history.json, learning_curves.png, confusion_<split>.png
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from heads import artifact, metrics as metrics_mod, plots

FINETUNE_SERIES = (("", "train (augmented, dropout on)"), ("val_", "validation split (early stopping)"))


def cut_config_id(config, cut: str | None) -> str | None:
    """The store configuration of the plain activations at the cut (whichever path ran: a store that
    holds them lets eval and predict skip the frozen part)."""
    return dataclasses.replace(config, layer=cut, pool="none", augment=None).config_id if cut else None


def _start_levels(record: dict):
    """The starting head's validation numbers, drawn as levels on the learning curves."""
    validation = record.get("metrics", {}).get("validation") or {}
    return (f"starting head {record['head_id']} (validation)",
            {"loss": validation.get("log_loss"), "accuracy": validation.get("accuracy")})


def publish(target: Path, head_id: str, start, net, settings, training, scan, store: Path, history: dict,
            timing: dict, scores: dict, memory_limit_mb: float) -> dict:
    """Write the head folder (staged, renamed into place); returns the record."""
    from heads.finetune import FINETUNE_KIND

    begun = start.record
    config = start.config
    classes = np.asarray(start.estimator.classes_)
    epoch_seconds = [round(s, 3) for s in timing["epoch_seconds"]]
    user_params = {"from": begun["head_id"], "blocks": settings.blocks, "path": settings.path}
    if settings.path == "cached":
        user_params["views"] = settings.views
    finetune = {
        "from_head": begun["head_id"], "from_folder": str(start.folder),
        "from_metrics": begun.get("metrics", {}),
        "backbone": config.backbone, "feature_layer": config.layer, "blocks": settings.blocks,
        "reopened": list(net.plan.reopened), "cut_layer": net.plan.cut, "cut_shape": list(net.cut_shape),
        "trainable_layers": net.trainable_layers, "batch_norm": "inference mode: moving statistics, not trained",
        "path": settings.path, "views": settings.views, "augment": settings.augment,
        "view_order": "each epoch: rows reshuffled, one of the K views drawn per row, seeded by (seed, epoch)"
                      if settings.path == "cached" else "online: Keras random layers in the model",
        "cut_config": cut_config_id(config, net.plan.cut),
        **{k: training.extraction.get(k) for k in ("view_configs", "extract_seconds", "extracted")},
        "data_root": str(scan.root), "rejected": len(training.rejected),
        "optimizer": {"name": "sgd", "learning_rate": settings.learning_rate, "momentum": settings.momentum},
        "batch_size": settings.batch_size, "epochs": settings.epochs,
        "early_stopping": ({"monitor": "val_loss", "split": "validation", "patience": settings.patience,
                            "restore_best_weights": True} if settings.patience else None),
        "epochs_run": timing["epochs_run"], "best_epoch": timing["best_epoch"], "epoch_seconds": epoch_seconds,
        "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 3) if epoch_seconds else None,
        **{k: round(timing[k], 3) for k in ("prepare_seconds", "fit_seconds", "score_seconds", "total_seconds")},
        "model_input": f"images resized to {config.size}x{config.size} ({config.resize}, as extract run), "
                       f"RGB 0..255, float32",
    }
    record = {
        "format": artifact.FORMAT_NAME, "version": artifact.FORMAT_VERSION, "head_id": head_id,
        "kind": FINETUNE_KIND, "estimator": "keras.Model", "classifier": "keras.Model",
        "params": {"blocks": settings.blocks, "path": settings.path, "views": settings.views,
                   "epochs": settings.epochs, "batch_size": settings.batch_size,
                   "learning_rate": settings.learning_rate, "momentum": settings.momentum,
                   "patience": settings.patience, **settings.augment},
        "user_params": user_params, "reduce": begun.get("reduce", "flatten"), "class_weight": "none",
        "seed": settings.seed, "search": None, "streamed": False, "memory_limit_mb": round(memory_limit_mb, 1),
        "store": str(Path(store).resolve()), "config_id": config.config_id, "config": config.to_json(),
        "input": "image", "input_shape": [config.size, config.size, 3],
        "class_names": list(begun["class_names"]), "classes": classes.tolist(), "columns": list(begun["columns"]),
        "sizes": {split: int(m["n"]) for split, m in scores.items()}, "train_split": "train",
        "fit_seconds": round(timing["fit_seconds"], 3), "exportable": True,
        "metrics": {split: metrics_mod.summary(m) for split, m in scores.items()},
        "finetune": finetune, "model_file": artifact.KERAS_FILE, "history_file": artifact.HISTORY_FILE,
        "versions": artifact.library_versions(), "created": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    with artifact.staged_folder(target) as tmp:
        net.model.save(tmp / artifact.KERAS_FILE)
        artifact.write_json(tmp / artifact.HISTORY_FILE, history)
        plots.learning_curves_png(history, tmp / "learning_curves.png",
                                  f"{head_id}: {settings.path} path, {', '.join(net.plan.reopened)} reopened",
                                  timing["best_epoch"] if settings.patience else None, series=FINETUNE_SERIES,
                                  baseline=_start_levels(begun))
        for split, split_metrics in scores.items():
            plots.confusion_png(split_metrics, tmp / f"confusion_{split}.png", f"{head_id}: {split}")
        artifact.write_json(tmp / artifact.METRICS_FILE, scores)
        artifact.write_json(tmp / artifact.HEAD_FILE, record)
    return record
