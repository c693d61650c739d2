"""The three working steps of `heads finetune`: get the data of the chosen path, train, score.

Training is the Keras blog's recipe: SGD with a small learning rate and momentum, so the
reopened pretrained blocks move a little instead of being relearned; early stopping on the
validation split with the best epoch's weights kept (`--patience 0`: all epochs, last weights).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from heads import metrics as metrics_mod
from heads.errors import HeadError
from heads.finetune_data import (TRAIN, VALIDATION, TrainingData, cached_data, encode_targets, image_data,
                                 view_batches)

PREDICT_BATCH = 64


def prepare_data(net, settings, config, resolved, scan, store: Path, extract_batch_size: int,
                 stage: Callable[[str], None], on_images) -> TrainingData:
    """Cached path: extract what the store lacks at the cut (plain + K views), then read it. Full: decode."""
    report = on_images or (lambda label, total, done: None)
    if settings.path == "full":
        total = sum(1 for e in scan.entries if e.split in (TRAIN, VALIDATION) and not e.reason)
        stage(f"decoding {total} train and validation images into memory")
        report("decoding", total, 0)
        return image_data(scan, config.size, config.resize, extract_batch_size,
                          on_progress=lambda n: report("decoding", None, n))

    from extract.api import run_views
    from extract.augment import AugmentSpec

    spec = AugmentSpec(settings.flip, settings.rotation, settings.zoom, settings.shift, settings.seed)
    stage(f"caching activations at {net.plan.cut} (plain, and {settings.views} augmented views of the train "
          f"images) in {store}; images already cached are skipped")
    labels = iter(["extracting plain"] + [f"extracting view {v + 1}/{settings.views}" for v in range(settings.views)])
    current = {"label": ""}

    def on_start(total: int) -> None:
        current["label"] = next(labels, "extracting")
        report(current["label"], total, 0)

    started = time.perf_counter()
    summaries = run_views(settings.views, spec, data=scan.root, store=store, backbone=config.backbone,
                          weights=resolved.source, size=config.size, layer=net.plan.cut, pool="none",
                          dtype=config.dtype, batch_size=extract_batch_size, preprocess=config.preprocess,
                          alpha=config.alpha, resize=config.resize, on_start=on_start,
                          on_progress=lambda n: report(current["label"], None, n))
    seconds = time.perf_counter() - started
    from heads.finetune_record import cut_config_id

    plain_is_cut = summaries[0].config.config_id == cut_config_id(config, net.plan.cut)
    for summary in summaries:
        if not plain_is_cut or summary.config.weights_sha256 != config.weights_sha256 or \
                tuple(summary.config.feature_shape) != net.cut_shape:
            raise HeadError(f"Extraction at {net.plan.cut} built configuration {summary.config.config_id}, which "
                            f"does not match the head's backbone (weights or shape). Refusing.")
    stage(f"reading the activations at {net.plan.cut} into memory")
    data = cached_data(store, summaries[0].config.config_id, [s.config.config_id for s in summaries[1:]])
    data.extraction = {
        "cut_config": summaries[0].config.config_id, "view_configs": [s.config.config_id for s in summaries[1:]],
        "extract_seconds": round(seconds, 3), "extracted": [s.extracted for s in summaries],
        "cached": [s.cached for s in summaries],
    }
    return data


def _callback_base():
    import keras

    return keras.callbacks.Callback


def _epoch_timer(on_epoch):
    class EpochTimer(_callback_base()):
        """Seconds per epoch (training and the validation pass), and progress for the CLI."""

        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.began)
            if on_epoch is not None:
                on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return EpochTimer()


def train(net, settings, data: TrainingData, classes, stage: Callable[[str], None], on_epoch):
    """(the trained model of the path, history, timing) — the best epoch's weights when stopping early."""
    import keras

    model = net.cached_model() if settings.path == "cached" else net.full_model(settings.augment, settings.seed)
    binary = len(classes) == 2
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=settings.learning_rate, momentum=settings.momentum),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = _epoch_timer(on_epoch)
    callbacks = [timer]
    stopper = None
    if settings.patience:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience,
                                                restore_best_weights=True)
        callbacks.insert(0, stopper)
    batches = view_batches(data.train_x, encode_targets(data.train_labels, classes), settings.batch_size,
                           settings.seed)
    validation = (data.val_x.astype(np.float32, copy=False), encode_targets(data.val_labels, classes))
    stage(f"training {', '.join(net.trainable_layers)} and the head on {len(data.train_labels)} images "
          f"({settings.path} path), validating on {len(data.val_labels)}")
    started = time.perf_counter()
    fitted = model.fit(batches, validation_data=validation, validation_batch_size=PREDICT_BATCH,
                       epochs=settings.epochs, callbacks=callbacks, shuffle=False, verbose=0)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    epochs_run = len(fitted.epoch)
    best = int(stopper.best_epoch) + 1 if stopper is not None and stopper.best_weights is not None else epochs_run
    timing = {"fit_seconds": time.perf_counter() - started, "epoch_seconds": timer.seconds,
              "epochs_run": epochs_run, "best_epoch": best}
    return model, history, timing


def predict_columns(model, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Probabilities, one column per class, in inference mode (no augmentation, no dropout)."""
    from heads.finetune_model import probability_columns

    return probability_columns(model.predict(x.astype(np.float32, copy=False), batch_size=batch_size, verbose=0))


def score(model, settings, data: TrainingData, classes, class_names: list[str]) -> dict[str, dict]:
    """Metrics of the fine-tuned model on the train split (unaugmented) and the validation split."""
    scores = {}
    for split, x, labels in ((TRAIN, data.plain_train_x, data.train_labels),
                             (VALIDATION, data.val_x, data.val_labels)):
        scores[split] = metrics_mod.classification_metrics(labels, predict_columns(model, x), np.asarray(classes),
                                                          class_names)
    return scores
