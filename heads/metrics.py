"""The numbers a head is judged by, all from scikit-learn, for any split.

Computed from predicted probabilities, so every kind is scored the same way:
accuracy, per-class precision/recall/F1, the confusion matrix and the log loss.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, log_loss,
                             precision_recall_fscore_support)


def classification_metrics(labels: np.ndarray, proba: np.ndarray, classes: np.ndarray,
                           class_names: list[str]) -> dict:
    """labels: store label ids; proba columns follow `classes` (the head's classes_);
    class_names: the store's names, indexed by label id."""
    labels = np.asarray(labels)
    classes = np.asarray(classes)
    proba = np.asarray(proba, dtype=np.float64)
    if len(proba):  # float32 outputs sum to one only within ~1e-7; scikit-learn's log loss checks that
        proba = proba / proba.sum(axis=1, keepdims=True)
    predicted = classes[np.argmax(proba, axis=1)] if len(proba) else np.array([], dtype=labels.dtype)
    shown = np.union1d(classes, labels)  # a class the head never saw still gets its row
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=shown, zero_division=0)
    unseen = sorted(set(labels.tolist()) - set(classes.tolist()))
    return {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)) if len(labels) else None,
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)) if len(labels) else None,
        "macro_f1": float(f1_score(labels, predicted, labels=shown, average="macro", zero_division=0)),
        # undefined when the split holds a class the head cannot predict
        "log_loss": (float(log_loss(labels, proba, labels=classes)) if len(labels) and not unseen else None),
        "per_class": {
            class_names[c]: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for c, p, r, f, s in zip(shown, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=shown).tolist(),
        "confusion_labels": [class_names[c] for c in shown],
        "classes_not_in_training": [class_names[c] for c in unseen],
    }


def summary(metrics: dict) -> dict:
    """The headline numbers of a metrics record (for head.json and `heads list`)."""
    return {key: metrics.get(key) for key in ("n", "accuracy", "balanced_accuracy", "macro_f1", "log_loss")}
