"""The svm kind as Keras layers: a linear SVM is one Dense layer (heads.kinds.linear), an RBF SVM its
support vectors, kernel and calibration sigmoids (heads.kinds.layers.KernelSVMProbabilities).

    probabilities = sigmoids(ovr(exp(-gamma |standardise(reduce(x)) - v|^2) @ coefficients + intercepts))

The one-vs-one decision functions of scikit-learn's SVC (libsvm's layout: the pair (i, j) sums the
support vectors of class i weighted by row j-1 of dual_coef_, and those of class j by row i) are
gathered into one coefficient matrix, so the kernel values are read once for every pair.
"""
from __future__ import annotations

import numpy as np

from heads.kinds import linear
from heads.kinds.reduce import keras_reduction


def ovo_coefficients(svc) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients (n_vectors, n_pairs), intercepts (n_pairs,)) of a fitted SVC's decision functions."""
    n_classes = len(svc.classes_)
    dual = np.asarray(svc.dual_coef_, np.float64)
    if n_classes == 2:
        return dual.T.copy(), np.asarray(svc.intercept_, np.float64)
    starts = np.concatenate([[0], np.cumsum(svc.n_support_)])
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    coefficients = np.zeros((dual.shape[1], len(pairs)))
    for column, (i, j) in enumerate(pairs):
        coefficients[starts[i]:starts[i + 1], column] = dual[j - 1, starts[i]:starts[i + 1]]
        coefficients[starts[j]:starts[j + 1], column] = dual[i, starts[j]:starts[j + 1]]
    return coefficients, np.asarray(svc.intercept_, np.float64)


def export_layers(pipeline, x):
    """A fitted svm pipeline (reduce -> scale -> SVMHead) applied to a Keras tensor of features."""
    import keras

    from heads.kinds.layers import KernelSVMProbabilities

    reducer, scaler, clf = (step for _, step in pipeline.steps)
    if clf.kernel == "linear":
        return linear.export_layers(pipeline, x)
    x = keras_reduction(x, reducer.mode)
    if scaler != "passthrough":
        mean = scaler.mean_ if scaler.with_mean else np.zeros(scaler.n_features_in_)
        scale = scaler.scale_ if scaler.with_std else np.ones(scaler.n_features_in_)
        x = keras.layers.Normalization(mean=mean, variance=np.square(scale), name="standardise")(x)
    svc = clf.svm_
    coefficients, intercepts = ovo_coefficients(svc)
    calibrators = clf.calibrators_
    layer = KernelSVMProbabilities(len(svc.support_vectors_), svc.support_vectors_.shape[1], coefficients.shape[1],
                                   len(clf.classes_), float(svc._gamma), name="head_rbf_svm")
    layer.build((None, svc.support_vectors_.shape[1]))
    layer.set_svm(svc.support_vectors_, coefficients, intercepts, [c.a_ for c in calibrators],
                  [c.b_ for c in calibrators])
    return layer(x)
