"""A fitted head on disk: one folder, published whole, with its model, record, metrics and pictures.

    <store>/heads/<head-id>/
        head.json         what it is: kind, parameters, the exact store configuration, classes, sizes, versions
        metrics.json      per split: accuracy, per-class precision/recall/F1, confusion matrix, log loss
        model.keras       dense heads (the Keras top model, loadable on its own)
        model.skops       scikit-learn heads (skops: loading executes no code; types checked against a list)
        history.json      dense heads: loss and accuracy per epoch
        confusion_<split>.png, learning_curves.png

The folder is built under a hidden temporary name and renamed into place, so a
reader (`heads list`) never sees a half-written head.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import socket
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from heads.errors import HeadError
from store.config import ExtractorConfig

FORMAT_NAME = "bottleneck-head"
FORMAT_VERSION = 1
HEAD_FILE, METRICS_FILE, HISTORY_FILE = "head.json", "metrics.json", "history.json"
KERAS_FILE, SKOPS_FILE = "model.keras", "model.skops"

# Every type a scikit-learn head may hold beyond skops' own defaults. Anything else in a
# model.skops file is refused at load time instead of being trusted blindly.
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
VERSIONED_PACKAGES = ("numpy", "scikit-learn", "keras", "tensorflow", "skops", "h5py", "bottleneck-cache")


def heads_dir(store: str | Path) -> Path:
    return Path(store) / "heads"


def new_head_id(kind: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:4]}"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def jsonable(value: Any) -> Any:
    """Parameters and results as plain JSON (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A hidden folder to build in, renamed to `final` when the block succeeds, removed when not."""
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise HeadError(f"Output folder exists and is not empty. Received: {final}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{socket.gethostname()}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, final)  # an empty existing `final` is replaced, a non-empty one refused above
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- the model file ---------------------------------------------------------------------------
def save_estimator(estimator, folder: Path) -> str:
    from heads.kinds.dense import DenseHead

    if isinstance(estimator, DenseHead):
        estimator.model_.save(folder / KERAS_FILE)
        return KERAS_FILE
    import skops.io

    skops.io.dump(estimator, folder / SKOPS_FILE)
    return SKOPS_FILE


def dense_state(estimator) -> dict:
    """The fitted attributes of a dense head beside its Keras model (enough to rebuild it)."""
    return {
        "classes": estimator.classes_.tolist(), "input_shape": list(estimator.input_shape_),
        "epochs_run": estimator.n_epochs_, "best_epoch": estimator.best_epoch_, "n_train": estimator.n_train_,
        "streamed": estimator.streamed_, "output": "sigmoid" if len(estimator.classes_) == 2 else "softmax",
        "model_input": "features of the configuration, shape input_shape (float32)",
    }


def load_estimator(folder: Path, record: dict):
    folder = Path(folder)
    model_file = folder / record["model_file"]
    if not model_file.is_file():
        raise HeadError(f"Head folder has no model file {record['model_file']}. Received: {folder}")
    if record.get("kind") == "finetune":  # the whole fine-tuned classifier, images in
        from heads.finetune_use import FineTunedHead

        return FineTunedHead(folder, record)
    if record["model_file"] == KERAS_FILE:
        import keras

        from heads.kinds.dense import DenseHead

        params = dict(record["params"])
        params["hidden"] = tuple(params["hidden"])
        estimator = DenseHead(**params)
        state = record["dense"]
        estimator.model_ = keras.models.load_model(model_file, compile=False)
        estimator.classes_ = np.asarray(state["classes"])
        estimator.input_shape_ = tuple(state["input_shape"])
        estimator.n_features_in_ = estimator.input_shape_[0]
        estimator.n_epochs_, estimator.best_epoch_ = state["epochs_run"], state["best_epoch"]
        estimator.n_train_, estimator.streamed_ = state["n_train"], state["streamed"]
        history = folder / HISTORY_FILE
        estimator.history_ = read_json(history) if history.is_file() else {}
        return estimator
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=model_file)
    unexpected = sorted(set(untrusted) - TRUSTED_TYPES)
    if unexpected:
        raise HeadError(f"Refusing to load {model_file}: it holds types outside heads' trusted list: "
                        f"{', '.join(unexpected)}")
    return skops.io.load(model_file, trusted=untrusted)


# -- finding and reading heads ------------------------------------------------------------------
@dataclass
class LoadedHead:
    folder: Path
    record: dict
    estimator: Any

    @property
    def config(self) -> ExtractorConfig:
        return ExtractorConfig.from_json(self.record["config"])

    @property
    def class_names(self) -> list[str]:
        """Names of the probability columns, in order."""
        return list(self.record["columns"])

    def predict_proba(self, features: np.ndarray, chunk: int = 2048) -> np.ndarray:
        parts = [self.estimator.predict_proba(features[i:i + chunk]) for i in range(0, len(features), chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.class_names)))


def read_record(folder: Path) -> dict:
    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        raise HeadError(f"Not a head folder (no {HEAD_FILE}). Received: {folder}")
    record = read_json(path)
    if record.get("format") != FORMAT_NAME or record.get("version") != FORMAT_VERSION:
        raise HeadError(f"Unsupported head format {record.get('format')!r} version {record.get('version')!r}; "
                        f"this version reads {FORMAT_NAME!r} version {FORMAT_VERSION}. Received: {folder}")
    return record


def load_head(folder: Path) -> LoadedHead:
    record = read_record(folder)
    return LoadedHead(Path(folder), record, load_estimator(folder, record))


def list_heads(store: str | Path) -> list[tuple[Path, dict]]:
    """(folder, record) of every published head of a store; half-built (hidden) folders are skipped."""
    root = heads_dir(store)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / HEAD_FILE).is_file():
            found.append((folder, read_record(folder)))
    return found


def resolve_head(head: str | Path, store: str | Path | None = None) -> Path:
    """A head folder from a path, or from an id (or unique id prefix) among the store's heads."""
    path = Path(head)
    if (path / HEAD_FILE).is_file():
        return path
    if store is None:
        raise HeadError(f"Not a head folder (no {HEAD_FILE}); give --store to look a head up by id. Received: {head}")
    ids = [folder.name for folder, _ in list_heads(store)]
    matches = [i for i in ids if i == str(head)] or [i for i in ids if i.startswith(str(head))]
    if len(matches) == 1:
        return heads_dir(store) / matches[0]
    if not matches:
        raise HeadError(f"No head {str(head)!r} in store {store} (it holds {len(ids)} heads; see `heads list`).")
    raise HeadError(f"Several heads match {str(head)!r}: {', '.join(matches)}")
