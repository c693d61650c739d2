"""The Keras blog's top model (Flatten -> Dense 256 -> Dropout 0.5 -> output) as a scikit-learn estimator.

Keras trains it; scikit-learn conventions hold outside (parameters stored as given,
validated in `fit`, fitted attributes end in `_`), so `clone`, `GridSearchCV` and
`cross_val_score` treat it like any other head. It is fast where the blog's recipe
is slow (per-step overhead): larger batches, the data in memory as one tensor, and
early stopping on a slice of the *train* rows, never the validation split. By default its input
is standardised and it starts from the logistic regression on its train rows (heads.kinds.dense_init:
the blog's network from random weights came out below that simplest head). XLA is an
option (`jit_compile`), off by default: on a 2-core CPU it made this model's train step
about 2x slower (35 -> 68 ms at batch 256 on 4x4x512 features), measured.
Features that do not fit in memory stream through `fit_stream`.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from heads.kinds import dense_init, dense_model
from heads.kinds.reduce import check_reduce, reduce_features

OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd", "nadam")
PREDICT_CHUNK = 4096


class DenseHead(ClassifierMixin, BaseEstimator):
    """The Keras blog's small network on bottleneck features, as a scikit-learn classifier.

    Parameters
    ----------
    hidden : tuple of int, default (256,)
        Units of each hidden Dense layer (ReLU).
    dropout : float, default 0.5
        Dropout after each hidden layer.
    optimizer : str, default "rmsprop"
        rmsprop, adam, adamw, sgd or nadam.
    learning_rate : float, default 1e-3
        The optimizer's learning rate.
    epochs : int, default 50
        Most epochs.
    batch_size : int, default 128
        Rows per step.
    patience : int, default 5
        Early stopping on `validation_fraction` of the *train* rows; 0: all epochs.
    validation_fraction : float, default 0.1
        Share of the train rows held out for early stopping.
    reduce : str, default "flatten"
        How spatial features become a vector: flatten, avg or max.
    class_weight : "balanced" or None
        Weigh classes by inverse frequency.
    random_state : int, optional
        Seed of the initial weights, the held-out rows and the batch order.
    jit_compile : bool, default False
        XLA compilation (slower on CPUs for this model, measured).
    verbose : int, default 0
        Keras's verbosity.
    standardize : bool or "auto", default "auto"
        Standardise the input per feature; auto: except for a flattened grid (heads.kinds.dense_init).
    init : str, default "auto"
        Start from the logistic regression on the train rows (logreg) or from random weights (random);
        auto: random for a flattened grid, else logreg.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in `fit`.
    model_ : keras.Model
        The trained network.
    history_ : dict
        Loss and accuracy per epoch.
    """
    def __init__(self, hidden=(256,), dropout: float = 0.5, optimizer: str = "rmsprop",
                 learning_rate: float = 1e-3, epochs: int = 50, batch_size: int = 128, patience: int = 5,
                 validation_fraction: float = 0.1, reduce: str = "flatten", class_weight=None,
                 random_state=None, jit_compile: bool = False, verbose: int = 0, standardize="auto",
                 init: str = "auto"):
        self.hidden = hidden
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.reduce = reduce
        self.class_weight = class_weight
        self.random_state = random_state
        self.jit_compile = jit_compile
        self.verbose = verbose
        self.standardize = standardize
        self.init = init

    # -- validation -------------------------------------------------------------------------
    def _hidden(self) -> tuple[int, ...]:
        hidden = (self.hidden,) if isinstance(self.hidden, (int, np.integer)) else tuple(self.hidden)
        if not all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u > 0 for u in hidden):
            raise ValueError(f"hidden must be positive layer sizes. Received: hidden={self.hidden!r}")
        return tuple(int(u) for u in hidden)

    def _check_params(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        def positive_int(name):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")

        positive_int("epochs")
        positive_int("batch_size")
        if not isinstance(self.patience, (int, np.integer)) or self.patience < 0:
            raise ValueError(f"patience must be an integer >= 0 (0: no early stopping). Received: {self.patience!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={self.dropout!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1). Received: {self.validation_fraction!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive. Received: learning_rate={self.learning_rate!r}")
        if self.init not in dense_init.INITS:
            raise ValueError(f"Unknown init {self.init!r}. Allowed: {', '.join(dense_init.INITS)}")
        if self.standardize not in (True, False, "auto"):
            raise ValueError(f"standardize is True, False or 'auto'. Received: {self.standardize!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}. Allowed: {', '.join(OPTIMIZERS)}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict. Received: {self.class_weight!r}")
        check_reduce(self.reduce, input_shape)
        return self._hidden()

    def _start(self, labels: np.ndarray, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """Checks shared by both fit paths; sets classes_ and the input description."""
        hidden = self._check_params(input_shape)
        check_classification_targets(labels)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"DenseHead needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r}).")
        self.input_shape_ = tuple(int(d) for d in input_shape)
        self.n_features_in_ = self.input_shape_[0]
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        return hidden, seed

    def _holdout(self, labels: np.ndarray, seed: int):
        """Train and early-stopping positions, both from the rows given to fit."""
        positions = np.arange(len(labels))
        n_hold = int(round(len(labels) * self.validation_fraction))
        k = len(self.classes_)
        if not self.patience or n_hold < k or len(labels) - n_hold < k:
            return positions, None
        counts = np.unique(labels, return_counts=True)[1]
        stratify = labels if counts.min() >= 2 else None
        train, hold = train_test_split(positions, test_size=n_hold, stratify=stratify, random_state=seed)
        return np.sort(train), np.sort(hold)

    def _targets(self, labels: np.ndarray) -> np.ndarray:
        encoded = np.searchsorted(self.classes_, labels)
        return encoded.astype(np.float32).reshape(-1, 1) if len(self.classes_) == 2 else encoded.astype(np.int32)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y, monitor=None, on_epoch: Callable[[int, dict], None] | None = None):
        """monitor=(X, y) is only recorded per epoch (e.g. the validation split), never used to stop."""
        X, y = validate_data(self, X, y, allow_nd=True, dtype=[np.float32, np.float64])
        X = X.astype(np.float32, copy=False)
        hidden, seed = self._start(y, X.shape[1:])
        weights = compute_sample_weight(self.class_weight, y).astype(np.float32)
        train, hold = self._holdout(y, seed)
        self.streamed_ = False
        start = self._start_state(X[train], y[train], seed)
        train_data = dense_model.memory_dataset(X[train], self._targets(y[train]), weights[train],
                                                self.batch_size, seed)
        hold_data = None if hold is None else dense_model.memory_dataset(
            X[hold], self._targets(y[hold]), weights[hold], self.batch_size, None)
        return self._train(hidden, seed, train_data, hold_data, len(train), monitor, on_epoch, *start)

    def _start_state(self, X: np.ndarray, y: np.ndarray, seed: int):
        """(statistics, logistic start) from the rows the network trains on (not its early-stopping rows)."""
        standardize, init = dense_init.resolve(self.standardize, self.init, self.input_shape_, self.reduce)
        self.standardized_ = standardize
        if not standardize and init == "random":
            return None, None
        reduced = reduce_features(X, self.reduce)
        stats = dense_init.statistics(reduced) if standardize else None
        start = None
        if init == "logreg":
            start = dense_init.logistic_start(dense_init.standardised(reduced, stats), y, self.class_weight, seed)
        return stats, start

    def fit_stream(self, source, monitor=None, on_epoch: Callable[[int, dict], None] | None = None):
        """Fit from a batch source (heads.data.StreamSource) without holding the features in memory."""
        labels = np.asarray(source.labels)
        hidden, seed = self._start(labels, tuple(source.feature_shape))
        weight_of = dict(zip(labels, compute_sample_weight(self.class_weight, labels)))
        train, hold = self._holdout(labels, seed)
        self.streamed_ = True

        def stream(subset, shuffle: bool):
            epochs = itertools.count()

            def generate():
                epoch_seed = seed + next(epochs) if shuffle else None
                for features, batch_labels in subset.batches(self.batch_size, epoch_seed):
                    weights = np.array([weight_of[v] for v in batch_labels], np.float32)
                    yield features.astype(np.float32, copy=False), self._targets(batch_labels), weights
            return dense_model.generator_dataset(generate, self.input_shape_, len(self.classes_),
                                                 batches=-(-len(subset) // self.batch_size))

        hold_data = None if hold is None else stream(source.subset(hold), False)
        stats = None
        self.standardized_, init = dense_init.resolve(self.standardize, self.init, self.input_shape_, self.reduce)
        if self.standardized_:  # one pass over the train rows for the statistics; no logistic start when streaming
            stats = dense_init.streamed_statistics(
                reduce_features(features, self.reduce) for features, _ in source.subset(train).batches(self.batch_size))
        return self._train(hidden, seed, stream(source.subset(train), True), hold_data, len(train), monitor, on_epoch,
                           stats, None)

    def _train(self, hidden, seed, train_data, hold_data, n_train, monitor, on_epoch, stats=None, start=None):
        import keras

        init = dense_init.resolve(self.standardize, self.init, self.input_shape_, self.reduce)[1]
        self.model_ = dense_model.build_top_model(self.input_shape_, len(self.classes_), hidden,
                                                  self.dropout, self.reduce, seed, stats)
        if start is not None:
            self.init_ = dense_init.warm_start(self.model_, *start, hidden)
        else:
            self.init_ = "random" + (" (streamed: no logistic start)" if self.streamed_ and init == "logreg" else "")
        self.model_.compile(
            optimizer=keras.optimizers.get({"class_name": self.optimizer,
                                             "config": {"learning_rate": float(self.learning_rate)}}),
            loss="binary_crossentropy" if len(self.classes_) == 2 else "sparse_categorical_crossentropy",
            metrics=["accuracy"], jit_compile=bool(self.jit_compile),
        )
        callbacks = dense_model.training_callbacks(self, hold_data is not None, monitor, on_epoch)
        history = self.model_.fit(train_data, validation_data=hold_data, epochs=int(self.epochs),
                                  callbacks=callbacks, verbose=self.verbose, shuffle=False)
        self.history_ = {name: [float(v) for v in values] for name, values in history.history.items()}
        for callback in callbacks:
            self.history_.update(getattr(callback, "curves", {}))
        self.n_epochs_ = len(history.epoch)
        stopper = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
        self.best_epoch_ = int(stopper.best_epoch) + 1 if stopper is not None else self.n_epochs_
        self.n_train_ = int(n_train)
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _features(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, allow_nd=True, dtype=[np.float32, np.float64], reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(f"X has rows of shape {tuple(X.shape[1:])}, but DenseHead was fitted on "
                             f"{self.input_shape_}.")
        return X.astype(np.float32, copy=False)

    def predict_proba(self, X) -> np.ndarray:
        X = self._features(X)
        from keras.ops import convert_to_numpy

        chunks = [convert_to_numpy(self.model_(X[i:i + PREDICT_CHUNK], training=False))
                  for i in range(0, len(X), PREDICT_CHUNK)]
        proba = np.concatenate(chunks).astype(np.float64) if chunks else np.zeros((0, self.model_.output.shape[-1]))
        if len(self.classes_) == 2:
            return np.hstack([1.0 - proba, proba])
        return proba / proba.sum(axis=1, keepdims=True)  # float32 softmax sums to 1 only within 1e-7

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
