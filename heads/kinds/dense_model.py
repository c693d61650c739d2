"""The Keras side of the dense head: the network, its input pipelines and its training callbacks.

Kept apart from the estimator so the bench (the blog's plain recipe), `heads export`
and a later fine-tuning stage build exactly the same top model.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def build_top_model(input_shape: tuple[int, ...], n_classes: int, hidden: tuple[int, ...] = (256,),
                    dropout: float = 0.5, reduce: str = "flatten", seed: int | None = None,
                    statistics: tuple[np.ndarray, np.ndarray] | None = None):
    """Input features -> flatten/pool -> [standardise] -> (Dense relu -> Dropout) per hidden size -> sigmoid or softmax.

    `statistics`: per-feature (mean, variance) of the reduced train rows, for a Normalization layer.

    Binary heads end in Dense(1, sigmoid) as in the blog; more classes in Dense(K, softmax).
    Seeded initializers and dropout make a fit with a fixed seed repeatable without
    touching global random state.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    if reduce == "flatten" or len(input_shape) == 1:
        x = keras.layers.Flatten(name="flatten")(inputs)
    elif reduce == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool_avg")(inputs)
    else:
        x = keras.layers.GlobalMaxPooling2D(name="pool_max")(inputs)
    if statistics is not None:
        mean, variance = statistics
        x = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(x)
    for i, units in enumerate(hidden):
        init_seed = None if seed is None else seed + 2 * i
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i + 1}",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=init_seed))(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=None if seed is None else seed + 2 * i + 1,
                                     name=f"dropout_{i + 1}")(x)
    out_seed = None if seed is None else seed + 2 * len(hidden)
    outputs = keras.layers.Dense(
        1 if n_classes == 2 else n_classes, activation="sigmoid" if n_classes == 2 else "softmax",
        name="output", kernel_initializer=keras.initializers.GlorotUniform(seed=out_seed))(x)
    return keras.Model(inputs, outputs, name="dense_head")


def memory_dataset(X: np.ndarray, y: np.ndarray, weights: np.ndarray, batch_size: int, seed: int | None):
    """One tensor in memory, reshuffled every epoch when a seed is given (deterministic per seed)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((X, y, weights))
    if seed is not None:
        data = data.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def generator_dataset(generate: Callable, input_shape: tuple[int, ...], n_classes: int, batches: int):
    """Batches produced by a generator (re-called every epoch), two read ahead; `batches` per epoch."""
    import tensorflow as tf

    target = (tf.TensorSpec((None, 1), tf.float32) if n_classes == 2 else tf.TensorSpec((None,), tf.int32))
    signature = (tf.TensorSpec((None, *input_shape), tf.float32), target, tf.TensorSpec((None,), tf.float32))
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(2)


def _callback_base():
    import keras

    return keras.callbacks.Callback


def training_callbacks(head, early_stopping: bool, monitor, on_epoch):
    """EarlyStopping on the held-out train rows; monitor and progress callbacks that only record."""
    import keras

    callbacks = []
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(head.patience),
                                                       restore_best_weights=True))
    if monitor is not None:
        callbacks.append(_monitor_callback(head, *monitor))
    if on_epoch is not None:
        callbacks.append(_epoch_callback(on_epoch))
    return callbacks


def _monitor_callback(head, X, y):
    """Loss and accuracy on other rows (the validation split) per epoch, for the learning curves only."""
    Base = _callback_base()
    X = np.asarray(X, dtype=np.float32)
    encoded = np.searchsorted(head.classes_, np.asarray(y))
    known = np.isin(np.asarray(y), head.classes_)

    class Monitor(Base):
        def __init__(self):
            super().__init__()
            self.curves = {"monitor_loss": [], "monitor_accuracy": []}

        def on_epoch_end(self, epoch, logs=None):
            from keras.ops import convert_to_numpy

            proba = np.concatenate([convert_to_numpy(self.model(X[i:i + 4096], training=False))
                                    for i in range(0, len(X), 4096)]).astype(np.float64)
            if proba.shape[1] == 1:
                proba = np.hstack([1.0 - proba, proba])
            picked = np.clip(proba[np.arange(len(X)), np.minimum(encoded, proba.shape[1] - 1)], 1e-12, 1.0)
            loss = float(np.mean(-np.log(np.where(known, picked, 1e-12))))
            accuracy = float(np.mean(known & (np.argmax(proba, axis=1) == encoded)))
            self.curves["monitor_loss"].append(loss)
            self.curves["monitor_accuracy"].append(accuracy)

    return Monitor()


def _epoch_callback(on_epoch: Callable[[int, dict], None]):
    Base = _callback_base()

    class EpochReport(Base):
        def on_epoch_end(self, epoch, logs=None):
            on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return EpochReport()


def export_layers(model, x):
    """The dense head's layers applied to a Keras tensor, for an exported model: copies of its layers,
    without Dropout (the identity in inference, and a preprocessing layer in front could switch it on),
    and a sigmoid output as the equivalent 2-class softmax (softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)])."""
    import keras

    layers = [layer for layer in model.layers
              if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout))]
    for layer in layers[:-1]:
        copy = layer.__class__.from_config(layer.get_config())
        x = copy(x)
        if copy.weights:
            copy.set_weights(layer.get_weights())
    kernel, bias = layers[-1].get_weights()
    if kernel.shape[1] == 1:
        kernel = np.concatenate([np.zeros_like(kernel), kernel], axis=1)
        bias = np.concatenate([np.zeros_like(bias), bias])
    final = keras.layers.Dense(kernel.shape[1], activation="softmax", name="output")
    x = final(x)
    final.set_weights([kernel, bias])
    return x
