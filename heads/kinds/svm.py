"""Support vector heads (linear or RBF) with calibrated probabilities.

scikit-learn deprecated `SVC(probability=True)`; here Platt scaling is fitted by
`CalibratedClassifierCV(ensemble=False)`: one SVM trained on all rows plus one
sigmoid per class fitted on cross-validated scores. A linear SVM therefore stays
one weight matrix and one sigmoid per class, which `heads export` writes as an
equivalent Dense layer.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

SVM_KERNELS = ("linear", "rbf")


class SVMHead(ClassifierMixin, BaseEstimator):
    def __init__(self, kernel: str = "rbf", C: float = 1.0, gamma="scale", class_weight=None,
                 calibration_folds: int = 3, max_iter: int | None = None, random_state=None):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.max_iter = max_iter
        self.random_state = random_state

    def _base(self):
        if self.kernel == "linear":
            return LinearSVC(C=self.C, max_iter=5000 if self.max_iter is None else self.max_iter,
                             random_state=self.random_state)
        if self.kernel == "rbf":  # libsvm: -1 is no limit
            return SVC(C=self.C, kernel="rbf", gamma=self.gamma, random_state=self.random_state,
                       max_iter=-1 if self.max_iter is None else self.max_iter)
        raise ValueError(f"Unknown SVM kernel {self.kernel!r}. Allowed: {', '.join(SVM_KERNELS)}")

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"SVMHead needs samples of at least 2 classes; got 1 class ({classes[0]!r}).")
        if not isinstance(self.calibration_folds, (int, np.integer)) or self.calibration_folds < 2:
            raise ValueError(f"calibration_folds must be an integer >= 2. Received: {self.calibration_folds!r}")
        folds = int(min(self.calibration_folds, counts.min()))
        if folds < 2:
            raise ValueError(
                f"Probability calibration needs at least 2 samples of every class; the rarest class has "
                f"{counts.min()}."
            )
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(self._base(), method="sigmoid", cv=cv, ensemble=False)
        # Class weights become sample weights, so the sigmoids are fitted with them too
        # (a weighted SVM behind unweighted calibration would undo the weighting).
        self.calibrated_.fit(X, y, sample_weight=compute_sample_weight(self.class_weight, y))
        self.classes_ = self.calibrated_.classes_
        self.n_iter_ = int(np.max(self.svm_.n_iter_))
        return self

    @property
    def svm_(self):
        """The one SVM trained on all rows (its scores feed the per-class sigmoids)."""
        check_is_fitted(self)
        return self.calibrated_.calibrated_classifiers_[0].estimator

    @property
    def calibrators_(self) -> list:
        check_is_fitted(self)
        return self.calibrated_.calibrated_classifiers_[0].calibrators

    def decision_function(self, X):
        check_is_fitted(self)
        return self.svm_.decision_function(validate_data(self, X, reset=False))

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.calibrated_.predict_proba(validate_data(self, X, reset=False))

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
