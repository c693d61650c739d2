"""How a kind's fitted model is written into a head folder and read back: each kind's registry entry holds one.

    SkopsFiles(trusted)  scikit-learn pipelines: model.skops, read by skops (which runs no code) with only
                         the kind's trusted types accepted: anything else in the file is refused
    DenseFiles()         the dense Keras head: model.keras, history.json and its fitted attributes in head.json
    FineTunedFiles()     a fine-tuned top (heads finetune writes it): model.keras
    EnsembleFiles()      an ensemble (heads ensemble writes it): its members' folders and its stacker

SkopsFiles.save reads back what it wrote under the same rules, so a kind whose file holds a type its
entry does not trust is refused when fitted: never published, then refused by `heads eval`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads.errors import HeadError
from heads.kinds import dense_init
from heads.kinds.dense import DenseHead

KERAS_FILE, SKOPS_FILE, HISTORY_FILE = "model.keras", "model.skops", "history.json"

# Types every scikit-learn head's pipeline holds beyond skops' own defaults: reduce -> scale -> classifier,
# and the random states a classifier may keep.
PIPELINE_TYPES = frozenset({
    "heads.kinds.reduce.SpatialReducer", "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
    "numpy.random._mt19937.MT19937", "numpy.random._generator.Generator", "numpy.random.mtrand.RandomState",
})


def load_skops(model_file: Path, trusted: frozenset[str]):
    """A skops file whose every type is skops' default or in `trusted` (else refused in one line)."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=model_file)
    except Exception as error:  # a damaged archive: zipfile, json and skops raise their own types
        raise HeadError(f"Unreadable model file {model_file}: {type(error).__name__}: {error}") from None
    unexpected = sorted(set(untrusted) - trusted)
    if unexpected:
        raise HeadError(f"Refusing to load {model_file}: it holds types outside its kind's trusted list: "
                        f"{', '.join(unexpected)}")
    return skops.io.load(model_file, trusted=untrusted)


class SkopsFiles:
    """model.skops: a scikit-learn pipeline, loaded with only `PIPELINE_TYPES | trusted` accepted."""

    def __init__(self, trusted: frozenset[str] = frozenset()):
        self.trusted = PIPELINE_TYPES | frozenset(trusted)

    def save(self, estimator, folder: Path) -> dict:
        """Write the fitted pipeline; returns the head record's fields (`model_file`)."""
        import skops.io

        skops.io.dump(estimator, folder / SKOPS_FILE)
        self.load(folder / SKOPS_FILE, {}, {})  # what cannot be read back is never published
        return {"model_file": SKOPS_FILE}

    def load(self, model_file: Path, record: dict, history: dict):
        return load_skops(model_file, self.trusted)


class DenseFiles:
    """model.keras, history.json, and the dense head's fitted attributes in head.json ("dense")."""

    trusted = frozenset()

    def save(self, estimator: DenseHead, folder: Path) -> dict:
        from heads.record import write_json

        estimator.model_.save(folder / KERAS_FILE)
        write_json(folder / HISTORY_FILE, estimator.history_)
        return {"model_file": KERAS_FILE, "dense": {**dense_state(estimator), "history_file": HISTORY_FILE}}

    def load(self, model_file: Path, record: dict, history: dict) -> DenseHead:
        return load_dense(model_file, record, history)


class FineTunedFiles:
    """model.keras of a fine-tuned top (cut activations -> reopened blocks -> head), written by heads finetune."""

    trusted = frozenset()

    def load(self, model_file: Path, record: dict, history: dict):
        from heads.kinds.finetune import FineTunedTop

        return FineTunedTop.load(model_file, record)


class EnsembleFiles:
    """ensemble.json with copies of the members' folders, and stacker.skops (a logistic regression)."""

    trusted = PIPELINE_TYPES | frozenset({
        "sklearn.linear_model._logistic.LogisticRegression", "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit"})

    def __init__(self, load_member):
        self.load_member = load_member  # a member folder -> its model (the registry's loader)

    def load(self, model_file: Path, record: dict, history: dict):
        from heads.kinds.ensemble import EnsembleModel

        return EnsembleModel.load(model_file.parent, record, self.load_member,
                                  lambda path: load_skops(path, self.trusted))


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
