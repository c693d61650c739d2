"""What `eval_head` returns: the metrics (a dict, as `heads eval --json` prints it) and the per-image rows
behind them, laid out as a pandas DataFrame by `to_frame()` (like FitResult.to_frame).

A dict subclass, so code that reads `result["accuracy"]` and JSON output stay as they were; the rows live
in attributes, outside the dict, so they never reach the JSON.
"""
from __future__ import annotations

import numpy as np

FIXED = ("path", "true", "predicted", "correct")


def probability_columns(classes) -> list[str]:
    """A column name per class: the class name, or `proba_<name>` when it would clash with a fixed column."""
    return [f"proba_{c}" if c in FIXED else str(c) for c in classes]


class EvalResult(dict):
    """A head's metrics on one split, and the rows they were computed from.

    Parameters
    ----------
    metrics : dict
        n, accuracy, balanced_accuracy, macro_f1, log_loss, per_class, confusion_matrix, notes... (the dict
        `heads eval --json` prints).
    paths : list of str
        Each scored row's file, relative to `data_root`.
    true : sequence of str
        Each row's class name today.
    proba : ndarray of shape (n, n_classes)
        The head's probabilities (averaged over test-time views when there were some), columns in
        `classes` order.
    classes : sequence of str
        The head's classes, in the order of `proba`'s columns (`LoadedHead.classes_`).
    data_root : str
        The folder the dataset was scanned from.

    Attributes
    ----------
    paths, proba, classes, data_root
        As given (`proba` and `classes` as arrays).
    true : ndarray of str
        Each row's class.
    """

    def __init__(self, metrics: dict, paths: list[str], true, proba: np.ndarray, classes, data_root: str):
        super().__init__(metrics)
        self.paths = list(paths)
        self.true = np.asarray(true, dtype=str)
        self.proba = np.asarray(proba, dtype=np.float64).reshape(len(self.paths), -1)
        self.classes = np.asarray(classes, dtype=str)
        self.data_root = data_root
        if not len(self.true) == len(self.paths) or self.proba.shape[1] != len(self.classes):
            raise ValueError(f"Rows do not line up: {len(self.paths)} paths, {len(self.true)} classes, "
                             f"probabilities {self.proba.shape} for {len(self.classes)} classes")

    @property
    def predicted(self) -> np.ndarray:
        """The most probable class of each row (ties to the first column, as `LoadedHead.predict`)."""
        if not len(self.paths):
            return np.asarray([], dtype=str)
        return self.classes[np.argmax(self.proba, axis=1)]

    def to_frame(self):
        """The scored images as a pandas DataFrame, one row each, in the dataset's order.

        Returns
        -------
        pandas.DataFrame
            Columns: path (relative to `data_root`), true (its class), predicted, correct (bool), then
            one probability column per class in `classes` order (named by the class; `proba_<name>` when
            a class is named like a fixed column).

        Examples
        --------
        >>> frame = eval_head("3f2a", store="cache").to_frame()        # doctest: +SKIP
        >>> frame[~frame.correct]                                       # doctest: +SKIP
        """
        import pandas as pd

        frame = pd.DataFrame(self.proba, columns=probability_columns(self.classes))
        predicted = self.predicted
        frame.insert(0, "correct", predicted == self.true)
        frame.insert(0, "predicted", predicted)
        frame.insert(0, "true", self.true)
        frame.insert(0, "path", self.paths)
        return frame
