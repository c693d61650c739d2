"""The kinds of head: one registry the API, the CLI choices, the search spaces and the loaders come from.

A scikit-learn kind is a pipeline `reduce -> scale -> clf`, so the reduction and the
standardisation a head was fitted with are saved with it and applied again at
predict time. The dense kind is the Keras estimator alone (it reduces in its first layer).
The finetune kind is not fitted on features by `heads fit`: `heads finetune` starts it from a
dense head (its parameters are the recipe).

Each kind's entry carries everything about it: how its fitted model is saved into a head folder
and loaded back, with the types its file may hold (`files`, heads.kinds.persist), how it becomes
Keras layers for an export (`keras_form`), and which of its parameters leave it no Keras layer
(`refuse_export`). fit, eval, predict, export and the tests read all of it from here (and iterate it).
"""
from __future__ import annotations

import ast
import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from heads import record as records
from heads.errors import HeadError
from heads.kinds import dense_model, forest, knn, linear, rbf
from heads.kinds.dense import DenseHead
from heads.kinds.ensemble import EnsembleRecipe
from heads.kinds.finetune import FineTuneRecipe
from heads.kinds.joined import FeatureJoin, JoinedModel
from heads.kinds.models import EstimatorModel, HeadModel
from heads.kinds.persist import HISTORY_FILE, DenseFiles, EnsembleFiles, FineTunedFiles, SkopsFiles
from heads.kinds.reduce import REDUCE_CHOICES, REDUCE_MODES, SpatialReducer
from heads.kinds.svm import SVMHead

CLASS_WEIGHTS = ("none", "balanced")
RESERVED = {"reduce": "--reduce", "class_weight": "--class-weight", "random_state": "--seed"}


def _always_exportable(params: dict) -> str | None:
    return None


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str
    make: Callable[[], Any]  # the classifier with this kind's defaults
    grid: tuple[dict, ...]  # search space, in the classifier's own parameter names
    scale: bool = True  # standardise features before the classifier
    incremental: bool = False  # trains from streamed batches (features larger than memory)
    class_weight: bool = True
    keras: bool = False
    starts_from: str | None = None  # a kind made from other heads by its own command, not by `heads fit`
    composite: bool = False  # made of other heads: exportable when every member is
    files: Any = None  # how a fitted model is saved and loaded, and the types its file may hold (persist.*Files)
    keras_form: Callable[[Any, Any], Any] | None = None  # (fitted estimator, Keras tensor) -> probabilities tensor
    refuse_export: Callable[[dict], str | None] = _always_exportable  # why a head with these parameters is not

    def parameters(self) -> list[str]:
        return sorted(p for p in self.make().get_params(deep=False) if p not in RESERVED)

    def defaults(self) -> dict[str, Any]:
        """Each parameter's default for this kind (what `heads fit` uses unless `--param NAME=VALUE`).

        Returns
        -------
        dict
            Parameter name -> default, sorted by name (the options of other flags left out: --seed...).
        """
        made = self.make().get_params(deep=False)
        return {name: made[name] for name in self.parameters()}

    def library_defaults(self) -> dict[str, Any]:
        """The defaults of the classifier's own class, where this kind sets others (logreg's C=0.01 is not
        scikit-learn's 1.0).

        Returns
        -------
        dict
            Parameter name -> the class's own default, for the parameters whose default differs here.
        """
        made = self.make()
        own = type(made)().get_params(deep=False)
        return {name: own[name] for name, value in self.defaults().items() if name in own and own[name] != value}

    def searched(self) -> dict[str, list]:
        """The values `--search` tries for each parameter (every sub-grid together).

        Returns
        -------
        dict
            Parameter name -> the values searched.
        """
        values: dict[str, list] = {}
        for grid in self.grid:
            for name, options in grid.items():
                values.setdefault(name, [])
                values[name] += [v for v in options if v not in values[name]]
        return values

    @property
    def exportable(self) -> bool:
        """Whether heads of this kind can be exported (with some parameters: see `export_refusal`)."""
        return self.keras_form is not None or self.composite or bool(self.starts_from)

    @property
    def trusted(self) -> frozenset[str]:
        """The types (beyond skops' defaults) a model file of this kind may hold."""
        return self.files.trusted

    def export_refusal(self, params: dict) -> str | None:
        """Why a head of this kind with these classifier parameters cannot be exported (None: it can).

        Parameters
        ----------
        params : dict
            The classifier's parameters (`get_params(deep=False)`, or a search candidate's).

        Returns
        -------
        str or None
            One line naming the parameter that keeps it out, or None.
        """
        if not self.exportable:
            return f"A {self.name} head is not a Keras layer; it cannot be exported."
        return self.refuse_export(params)

    def save(self, estimator, folder: Path) -> dict:
        """Write a fitted estimator of this kind into a head folder; returns the head record's fields."""
        return self.files.save(estimator, folder)

    def load(self, model_file: Path, record: dict, history: dict) -> HeadModel:
        """The fitted model of a head folder of this kind."""
        model = self.files.load(model_file, record, history)
        if self.composite or self.starts_from:
            return model
        model = EstimatorModel(model, self)
        return JoinedModel(FeatureJoin.from_record(record["join"]), model) if record.get("join") else model


_LOGISTIC_TYPES = {"sklearn.linear_model._logistic.LogisticRegression", "sklearn._loss.loss.HalfBinomialLoss",
                   "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.link.LogitLink",
                   "sklearn._loss.link.MultinomialLogit"}

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("dense", "Keras top model: flatten -> Dense 256 -> Dropout 0.5 -> output (the blog's)",
         DenseHead, ({"hidden": [(256,), (512,)], "dropout": [0.3, 0.5], "learning_rate": [3e-4, 1e-3]},),
         scale=False, incremental=True, keras=True,
         files=DenseFiles(), keras_form=lambda estimator, x: dense_model.export_layers(estimator.model_, x)),
    Kind("logreg", "scikit-learn logistic regression (multinomial), standardised features",
         lambda: LogisticRegression(C=0.01, max_iter=500),
         ({"C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]},),
         files=SkopsFiles(frozenset(_LOGISTIC_TYPES)), keras_form=linear.export_layers),
    Kind("svm", "support vector machine, kernel linear or rbf, Platt-calibrated probabilities",
         SVMHead, ({"kernel": ["linear"], "C": [1e-4, 1e-3, 1e-2, 1e-1]},
                   {"kernel": ["rbf"], "C": [0.3, 1.0, 3.0, 10.0], "gamma": ["scale"]}),
         files=SkopsFiles(frozenset({
             "heads.kinds.svm.SVMHead", "sklearn.svm._classes.SVC", "sklearn.svm._classes.LinearSVC",
             "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
             "sklearn.calibration._SigmoidCalibration", "sklearn.model_selection._split.StratifiedKFold"})),
         keras_form=rbf.export_layers),
    # Cosine distance: 0.976 on VGG16 dogs-vs-cats features where standardised euclidean gave 0.68.
    Kind("knn", "k nearest neighbours, cosine distance",
         lambda: KNeighborsClassifier(n_neighbors=10, weights="distance", metric="cosine"),
         ({"n_neighbors": [1, 5, 10, 20, 40], "weights": ["uniform", "distance"]},),
         scale=False, class_weight=False,
         files=SkopsFiles(frozenset({"sklearn.neighbors._classification.KNeighborsClassifier",
                                     "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"})),
         keras_form=knn.export_layers, refuse_export=knn.export_refusal),
    Kind("forest", "random forest (scale-free)",
         lambda: RandomForestClassifier(n_estimators=300, n_jobs=-1),
         ({"max_features": ["sqrt", 0.05], "min_samples_leaf": [1, 3]},), scale=False,
         files=SkopsFiles(frozenset({"sklearn.ensemble._forest.RandomForestClassifier",
                                     "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._tree.Tree"})),
         keras_form=forest.export_layers),
    Kind("sgd", "linear model trained by SGD (log loss); streams batches when features exceed memory",
         lambda: SGDClassifier(loss="log_loss", alpha=0.1, max_iter=30, tol=1e-4),
         ({"alpha": [1e-3, 1e-2, 1e-1, 1.0]},), incremental=True,
         files=SkopsFiles(frozenset({"sklearn.linear_model._stochastic_gradient.SGDClassifier",
                                     "sklearn.linear_model._sgd_fast.Hinge", "sklearn.linear_model._sgd_fast.Log",
                                     "sklearn.linear_model._sgd_fast.ModifiedHuber",
                                     "sklearn.linear_model._sgd_fast.SquaredHinge"})),
         keras_form=linear.export_layers, refuse_export=linear.sgd_refusal),
    Kind("finetune", "a dense head trained on with the top blocks of its backbone reopened (heads finetune)",
         FineTuneRecipe, (), scale=False, class_weight=False, keras=True, starts_from="dense",
         files=FineTunedFiles()),
    Kind("ensemble", "heads on the same classes combined: probabilities averaged, or stacked by a logistic "
                     "regression on out-of-fold probabilities of the train split (heads ensemble)",
         EnsembleRecipe, (), scale=False, class_weight=False, starts_from="any", composite=True,
         files=EnsembleFiles(lambda folder: load_member(folder))),
]}
FITTED_KINDS = tuple(name for name, kind in KINDS.items() if not kind.starts_from)  # what `heads fit` makes

KindName = enum.Enum("KindName", {name: name for name in FITTED_KINDS}, type=str)
ReduceMode = enum.Enum("ReduceMode", {name: name for name in REDUCE_CHOICES}, type=str)
ClassWeight = enum.Enum("ClassWeight", {name: name for name in CLASS_WEIGHTS}, type=str)


def load_member(folder: Path) -> HeadModel:
    """The model of a head folder (an ensemble's member): its record says its kind."""
    record = records.read_record(folder)
    kind = get_kind(record["kind"])
    history_file = Path(folder) / HISTORY_FILE
    history = json.loads(history_file.read_text(encoding="utf-8")) if history_file.is_file() else {}
    return kind.load(records.model_path(folder, record), record, history)


def get_kind(name: str) -> Kind:
    name = getattr(name, "value", name)
    if name not in KINDS:
        raise HeadError(f"Unknown kind {name!r}. Known: {', '.join(KINDS)}")
    return KINDS[name]


def parse_param(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` from the command line; VALUE read as JSON or a Python literal, else a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise HeadError(f"A parameter is NAME=VALUE. Received: {text!r}")
    for read in (json.loads, ast.literal_eval):
        try:
            return name.strip(), read(raw)
        except (ValueError, SyntaxError):
            pass
    return name.strip(), raw


def _check_params(kind: Kind, params: dict[str, Any]) -> None:
    for name in params:
        if name in RESERVED:
            raise HeadError(f"Set {name} with {RESERVED[name]} (or the argument of that name), not as a "
                            f"parameter. Received: {name}={params[name]!r}")
        if name not in kind.parameters():
            raise HeadError(f"Kind {kind.name} has no parameter {name!r}. Its parameters: "
                            f"{', '.join(kind.parameters())}")


def _has_probabilities(clf) -> bool:
    """Whether this unfitted classifier will have predict_proba (scikit-learn decides by its parameters)."""
    try:
        return hasattr(clf, "predict_proba")
    except Exception:  # an invalid value is refused by fit with scikit-learn's own message
        return True


def make_head(kind: str, params: dict[str, Any] | None = None, reduce: str = "flatten",
              class_weight: str | None = None, seed: int | None = 0):
    """An unfitted estimator of this kind; parameters are checked by name here, by value in fit.

    Parameters
    ----------
    kind : str
        A head kind (`heads kinds` lists them).
    params : dict, optional
        The kind's parameters, by name (default: the kind's defaults).
    reduce : str, default "flatten"
        How spatial features become a vector: flatten, avg or max.
    class_weight : str, optional
        "balanced" to weigh classes by inverse frequency.
    seed : int, optional
        The estimator's random state.

    Returns
    -------
    estimator
        A scikit-learn estimator (a Pipeline for the scikit-learn kinds, a DenseHead for dense).

    Raises
    ------
    HeadError
        On an unknown kind, reduce mode or parameter name, or a kind that starts from a fitted head.
    """
    spec = get_kind(kind)
    if spec.starts_from:
        start = "fitted" if spec.starts_from == "any" else spec.starts_from
        raise HeadError(f"A {spec.name} head starts from a {start} head: `heads {spec.name} --head "
                        f"<{start} head>`. Received: kind {spec.name}")
    params = dict(params or {})
    _check_params(spec, params)
    reduce = getattr(reduce, "value", reduce)
    if reduce not in REDUCE_MODES:
        raise HeadError(f"Unknown reduce mode {reduce!r}. Allowed: {', '.join(REDUCE_MODES)}")
    class_weight = getattr(class_weight, "value", class_weight)
    class_weight = None if class_weight in (None, "none") else class_weight
    if class_weight is not None and class_weight != "balanced":
        raise HeadError(f"Unknown class weight {class_weight!r}. Allowed: {', '.join(CLASS_WEIGHTS)}")
    if class_weight and not spec.class_weight:
        allowed = ", ".join(k.name for k in KINDS.values() if k.class_weight)
        raise HeadError(f"Kind {spec.name} cannot weight classes. Kinds that can: {allowed}. "
                        f"Received: --class-weight {class_weight}")
    clf = spec.make()
    if not spec.keras and not _has_probabilities(clf.set_params(**params)):
        raise HeadError(f"A {spec.name} head must give probabilities (every score, report and export uses "
                        f"them); these parameters do not: {params}. For sgd: loss log_loss or modified_huber")
    fixed = {"class_weight": class_weight} if spec.class_weight else {}
    if "random_state" in clf.get_params(deep=False):
        fixed["random_state"] = seed
    if spec.keras:
        return clf.set_params(reduce=reduce, **fixed, **params)
    clf.set_params(**fixed, **params)
    return Pipeline([
        ("reduce", SpatialReducer(reduce)),
        ("scale", StandardScaler() if spec.scale else "passthrough"),
        ("clf", clf),
    ])


def classifier_of(estimator):
    """The classifier inside a head (the pipeline's last step, or the dense estimator itself)."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def search_space(kind: str, fixed: dict[str, Any]) -> list[dict[str, list]]:
    """The kind's grid in the estimator's parameter names, minus what the user fixed.

    A sub-grid that lists a fixed parameter without the user's value is dropped when
    another sub-grid lists it (svm with kernel=rbf searches only the rbf sub-grid).
    """
    spec = get_kind(kind)
    prefix = "" if spec.keras else "clf__"
    listed = {name: value for name, value in fixed.items()
              if any(name in grid and value in grid[name] for grid in spec.grid)}
    grids = []
    for grid in spec.grid:
        if any(name in grid and value not in grid[name] for name, value in listed.items()):
            continue
        kept = {f"{prefix}{name}": list(values) for name, values in grid.items() if name not in fixed}
        if kept and kept not in grids:
            grids.append(kept)
    if not grids:
        raise HeadError(f"Nothing left to search for kind {spec.name}: every searched parameter was fixed "
                        f"({', '.join(sorted(fixed))}).")
    return grids
