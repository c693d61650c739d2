"""Saving and loading a fitted estimator of the registry's kinds (scikit-learn pipelines, the dense head).

scikit-learn heads are saved with skops, whose loader runs no code; only the types on the
trusted list below are accepted, anything else in a model.skops file is refused. The dense
head is its Keras model plus the fitted attributes recorded in head.json.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads.errors import HeadError
from heads.kinds import dense_init
from heads.kinds.dense import DenseHead

KERAS_FILE, SKOPS_FILE, HISTORY_FILE = "model.keras", "model.skops", "history.json"

# Every type a scikit-learn head may hold beyond skops' own defaults.
TRUSTED_TYPES = frozenset({
    "heads.kinds.reduce.SpatialReducer", "heads.kinds.svm.SVMHead",
    "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression", "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._sgd_fast.Hinge", "sklearn.linear_model._sgd_fast.Log",
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.LogitLink", "sklearn._loss.link.MultinomialLogit",
    "sklearn.neighbors._classification.KNeighborsClassifier", "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "sklearn.svm._classes.SVC", "sklearn.svm._classes.LinearSVC",
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
    "numpy.random._mt19937.MT19937", "numpy.random._generator.Generator",
    "numpy.random.mtrand.RandomState",
})


def save_estimator(estimator, folder: Path) -> str:
    """Write the model file of a fitted estimator into `folder`; returns its name."""
    if isinstance(estimator, DenseHead):
        estimator.model_.save(folder / KERAS_FILE)
        return KERAS_FILE
    import skops.io

    skops.io.dump(estimator, folder / SKOPS_FILE)
    return SKOPS_FILE


def dense_state(estimator: DenseHead) -> dict:
    """The fitted attributes of a dense head beside its Keras model (enough to rebuild it)."""
    return {
        "classes": estimator.classes_.tolist(), "input_shape": list(estimator.input_shape_),
        "epochs_run": estimator.n_epochs_, "best_epoch": estimator.best_epoch_, "n_train": estimator.n_train_,
        "streamed": estimator.streamed_, "output": "sigmoid" if len(estimator.classes_) == 2 else "softmax",
        "model_input": "features of the configuration, shape input_shape (float32)",
        "init": getattr(estimator, "init_", "random"), "standardized": getattr(estimator, "standardized_", False),
        "start_rule": dense_init.AUTO_RULE,
    }


def load_dense(model_file: Path, record: dict, history: dict) -> DenseHead:
    import keras

    params = dict(record["params"])
    params["hidden"] = tuple(params["hidden"])
    params.setdefault("standardize", False)  # heads fitted before these parameters: plain input, random start
    params.setdefault("init", "random")
    estimator = DenseHead(**params)
    state = record["dense"]
    estimator.model_ = keras.models.load_model(model_file, compile=False)
    estimator.classes_ = np.asarray(state["classes"])
    estimator.input_shape_ = tuple(state["input_shape"])
    estimator.n_features_in_ = estimator.input_shape_[0]
    estimator.n_epochs_, estimator.best_epoch_ = state["epochs_run"], state["best_epoch"]
    estimator.n_train_, estimator.streamed_ = state["n_train"], state["streamed"]
    estimator.history_ = history
    estimator.init_ = state.get("init", "random")
    estimator.standardized_ = state.get("standardized", False)
    return estimator


def load_skops(model_file: Path):
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=model_file)
    unexpected = sorted(set(untrusted) - TRUSTED_TYPES)
    if unexpected:
        raise HeadError(f"Refusing to load {model_file}: it holds types outside heads' trusted list: "
                        f"{', '.join(unexpected)}")
    return skops.io.load(model_file, trusted=untrusted)
