"""Training and scoring in `heads finetune`.

The Keras blog's recipe: SGD with a small learning rate and momentum, so the reopened
pretrained blocks move a little instead of being relearned. Early stopping watches held-out
train rows (default) with the best epoch's weights kept; the validation split is recorded per
epoch for the learning curves and scored at the end, never used to choose (with
`--stop-on validation` it is the stopping set instead, and only the test split is an honest figure).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from heads import metrics as metrics_mod
from heads.finetune.data import Split, TrainingData, encode_targets, view_batches
from heads.kinds.finetune import probability_columns

PREDICT_BATCH = 64


def _callback_base():
    import keras

    return keras.callbacks.Callback


def _epoch_timer(on_epoch):
    class EpochTimer(_callback_base()):
        """Seconds per epoch (training and the stopping pass), and progress for the CLI."""

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


def _monitor(split: Split, classes):
    """Loss and accuracy of a split per epoch, recorded for the curves only (never used to stop)."""
    import keras

    targets = encode_targets(split.labels, classes)
    loss_of = keras.losses.BinaryCrossentropy() if len(classes) == 2 else keras.losses.SparseCategoricalCrossentropy()

    class Monitor(_callback_base()):
        def __init__(self):
            super().__init__()
            self.curves = {"monitor_loss": [], "monitor_accuracy": []}

        def on_epoch_end(self, epoch, logs=None):
            raw = self.model.predict(split.x.astype(np.float32, copy=False), batch_size=PREDICT_BATCH, verbose=0)
            self.curves["monitor_loss"].append(float(loss_of(targets, raw)))
            predicted = np.argmax(probability_columns(raw), axis=1)
            self.curves["monitor_accuracy"].append(float(np.mean(predicted == np.searchsorted(classes, split.labels))))

    return Monitor()


def train(net, recipe, data: TrainingData, classes, stop: Split | None, monitor: Split | None,
          stage: Callable[[str], None], on_epoch):
    """(the trained model of the path, history, timing): the best epoch's weights on `stop` when stopping early."""
    import keras

    classes = np.asarray(classes)
    model = net.cached_model() if recipe.path == "cached" else net.full_model(recipe.augment, recipe.seed)
    binary = len(classes) == 2
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=recipe.learning_rate, momentum=recipe.momentum),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = _epoch_timer(on_epoch)
    callbacks = [timer]
    recorder = _monitor(monitor, classes) if monitor is not None else None
    if recorder is not None:
        callbacks.insert(0, recorder)
    stopper = None
    if recipe.patience and stop is not None:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience,
                                                restore_best_weights=True)
        callbacks.insert(0, stopper)
    batches = view_batches(data.train_views, encode_targets(data.train.labels, classes), recipe.batch_size,
                           recipe.seed)
    validation = None if stop is None else (stop.x.astype(np.float32, copy=False), encode_targets(stop.labels, classes))
    watched = f", stopping early on {len(stop)} rows ({recipe.stop_on})" if stopper else ""
    stage(f"training {', '.join(net.trainable_layers)} and the head on {len(data.train)} images "
          f"({recipe.path} path){watched}")
    started = time.perf_counter()
    fitted = model.fit(batches, validation_data=validation, validation_batch_size=PREDICT_BATCH,
                       epochs=recipe.epochs, callbacks=callbacks, shuffle=False, verbose=0)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    if recorder is not None:
        history.update(recorder.curves)
    epochs_run = len(fitted.epoch)
    best = int(stopper.best_epoch) + 1 if stopper is not None and stopper.best_weights is not None else epochs_run
    timing = {"fit_seconds": time.perf_counter() - started, "epoch_seconds": timer.seconds,
              "epochs_run": epochs_run, "best_epoch": best}
    return model, history, timing


def predict_columns(model, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Probabilities, one column per class, in inference mode (no augmentation, no dropout)."""
    return probability_columns(model.predict(x.astype(np.float32, copy=False), batch_size=batch_size, verbose=0))


def score(model, data: TrainingData, classes, class_names: list[str]) -> dict[str, dict]:
    """Metrics of the fine-tuned model on the train rows (unaugmented), the held-out rows and the other splits."""
    splits = {"train": data.train, **({"holdout": data.holdout} if data.holdout is not None else {}), **data.scored}
    return {name: metrics_mod.classification_metrics(split.labels, predict_columns(model, split.x),
                                                     np.asarray(classes), class_names)
            for name, split in splits.items() if len(split)}
