"""Linear heads as one affine map plus a link: the form `heads export` writes as a Dense layer.

    probabilities = link(reduce(features) @ kernel + bias)

The standardisation step is folded into the kernel and bias, and a calibrated linear
SVM's per-class sigmoids into the scores, so the exported layer is exact, not refitted.
Links: "binary" (one score s: [1 - sigmoid(s), sigmoid(s)]), "softmax", and "ovr"
(per-class sigmoids normalised to sum to one, as scikit-learn's one-vs-rest heads do).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, softmax

from heads.errors import HeadError
from heads.kinds.reduce import keras_reduction
from heads.kinds.svm import SVMHead

LINKS = ("binary", "softmax", "ovr")


@dataclass
class LinearForm:
    reduce: str
    kernel: np.ndarray  # (features after reduction, scores)
    bias: np.ndarray  # (scores,)
    link: str

    def predict_proba(self, reduced: np.ndarray) -> np.ndarray:
        """The numpy reference of the exported layer (tests compare it with the estimator)."""
        scores = np.asarray(reduced, np.float64) @ self.kernel + self.bias
        if self.link == "binary":
            positive = expit(scores[:, 0])
            return np.stack([1.0 - positive, positive], axis=1)
        if self.link == "softmax":
            return softmax(scores, axis=1)
        sig = expit(scores)
        return sig / sig.sum(axis=1, keepdims=True)


def _logistic(clf) -> tuple[np.ndarray, np.ndarray, str]:
    coef, intercept = clf.coef_.T, clf.intercept_
    if len(clf.classes_) == 2:
        return coef, intercept, "binary"
    ovr = getattr(clf, "multi_class", "auto") == "ovr" or clf.solver == "liblinear"
    return coef, intercept, "ovr" if ovr else "softmax"


def svm_refusal(params: dict) -> str | None:
    """Why an svm head with these parameters is no Dense layer (None: it is one)."""
    if params.get("kernel", "rbf") != "linear":
        return (f"An svm head exports only with kernel='linear' (an RBF SVM is no Dense layer). "
                f"Received: kernel={params.get('kernel', 'rbf')!r}")
    return None


def sgd_refusal(params: dict) -> str | None:
    """Why an sgd head with these parameters is no Dense layer (None: it is one)."""
    if params.get("loss", "log_loss") != "log_loss":
        return (f"An sgd head exports only with loss='log_loss' (its probabilities are then logistic). "
                f"Received: loss={params.get('loss')!r}")
    return None


def _sgd(clf) -> tuple[np.ndarray, np.ndarray, str]:
    refusal = sgd_refusal(clf.get_params(deep=False))
    if refusal:
        raise HeadError(refusal)
    return clf.coef_.T, clf.intercept_, "binary" if len(clf.classes_) == 2 else "ovr"


def _svm(clf: SVMHead) -> tuple[np.ndarray, np.ndarray, str]:
    refusal = svm_refusal(clf.get_params(deep=False))
    if refusal:
        raise HeadError(refusal)
    svm = clf.svm_
    a = np.array([c.a_ for c in clf.calibrators_], dtype=np.float64)
    b = np.array([c.b_ for c in clf.calibrators_], dtype=np.float64)
    # calibrated p_k = sigmoid(-(a_k * (w_k . x + c_k) + b_k))
    kernel = svm.coef_.T * -a[None, :]
    bias = -(a * svm.intercept_ + b)
    return kernel, bias, "binary" if len(clf.classes_) == 2 else "ovr"


def linear_form(pipeline) -> LinearForm:
    """The LinearForm of a fitted scikit-learn head pipeline (reduce -> scale -> linear classifier)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    reducer, scaler, clf = (step for _, step in pipeline.steps)
    if isinstance(clf, LogisticRegression):
        kernel, bias, link = _logistic(clf)
    elif isinstance(clf, SGDClassifier):
        kernel, bias, link = _sgd(clf)
    elif isinstance(clf, SVMHead):
        kernel, bias, link = _svm(clf)
    else:
        raise HeadError(f"{type(clf).__name__} is not a linear head; it cannot be written as a Dense layer.")
    kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    if scaler != "passthrough":  # (x - mean) / scale @ W + b  ==  x @ (W / scale) + (b - (mean / scale) @ W)
        mean = scaler.mean_ if scaler.with_mean else np.zeros(kernel.shape[0])
        scale = scaler.scale_ if scaler.with_std else np.ones(kernel.shape[0])
        kernel, bias = kernel / scale[:, None], bias - (mean / scale) @ kernel
    return LinearForm(reducer.mode, kernel, bias, link)


def keras_layers(form: LinearForm, x):
    """Apply the form to a Keras tensor of reduced features; returns the probabilities tensor."""
    import keras

    width = form.kernel.shape[0]
    if form.link == "binary":  # softmax([0, s]) == [1 - sigmoid(s), sigmoid(s)]
        kernel = np.concatenate([np.zeros((width, 1)), form.kernel], axis=1)
        bias = np.concatenate([[0.0], form.bias])
        activation = "softmax"
    else:
        kernel, bias = form.kernel, form.bias
        activation = "softmax" if form.link == "softmax" else "log_sigmoid"
    layer = keras.layers.Dense(kernel.shape[1], activation=activation, name="head_linear")
    layer.build((None, width))
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    x = layer(x)
    if form.link == "ovr":  # softmax(log sigmoid(s)) == sigmoid(s) / sum(sigmoid(s))
        x = keras.layers.Softmax(name="head_normalise")(x)
    return x


def export_layers(pipeline, x):
    """A linear head applied to a Keras tensor of features: its reduction, then one Dense layer."""
    form = linear_form(pipeline)
    return keras_layers(form, keras_reduction(x, form.reduce))
