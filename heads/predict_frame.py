"""Predictions as a pandas DataFrame: one row per input file, one probability column per class.

The numbers are `heads predict`'s (heads.predict.predict_images); this module only lays them out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from heads.artifact import LoadedHead, load_head, resolve_head
from heads.predict_output import Prediction

FIXED = ("path", "predicted", "error")


def probability_columns(classes) -> list[str]:
    """A column name per class: the class name, or `proba_<name>` when it would clash with a fixed column."""
    return [f"proba_{c}" if c in FIXED else str(c) for c in classes]


def predictions_frame(predictions: list[Prediction], classes) -> pd.DataFrame:
    """Lay out predictions (heads.predict.predict_images) as a DataFrame.

    Parameters
    ----------
    predictions : list of Prediction
        As `predict_images` returns them.
    classes : sequence of str
        The head's classes, in its column order (`LoadedHead.classes_`).

    Returns
    -------
    pandas.DataFrame
        Columns: path, predicted (the label: best class, or "unknown" below a threshold; empty when the
        file could not be used), one probability column per class in `classes` order (NaN for a file that
        could not be used), error (why a file could not be used; empty otherwise).
    """
    names = probability_columns(classes)
    proba = np.full((len(predictions), len(names)), np.nan)
    for row, p in enumerate(predictions):
        if p.scores:
            proba[row] = p.scores
    frame = pd.DataFrame(proba, columns=names)
    frame.insert(0, "predicted", [p.label for p in predictions])
    frame.insert(0, "path", [p.path for p in predictions])
    frame["error"] = [p.error for p in predictions]
    return frame


def predict_frame(head: str | Path | LoadedHead, inputs, store: str | Path | None = None, batch_size: int = 32,
                  threshold: float | None = None, keep: bool = True, progress: bool | None = None,
                  file_column: str | None = None) -> pd.DataFrame:
    """Predict image files, folders or CSV lists of files with a head, as a DataFrame.

    Parameters
    ----------
    head : str, Path or LoadedHead
        A head folder, a head id (or unique prefix) with `store`, or a loaded head.
    inputs : str, Path or list of them
        Image files, folders (walked) or .csv/.tsv files listing images.
    store : str or Path, optional
        The store to look the head up in and to reuse stored features from.
    batch_size : int, default 32
        Images per backbone batch.
    threshold : float, optional
        Below this best probability the predicted label is "unknown".
    keep : bool, default True
        Keep the features computed for new images in the store, as `heads predict` does.
    progress : bool, optional
        A progress bar on stderr; by default on in a terminal or notebook. False: none.
    file_column : str, optional
        The file column of a CSV/TSV list.

    Returns
    -------
    pandas.DataFrame
        See `predictions_frame`: path, predicted, one probability column per class, error.

    Examples
    --------
    >>> from heads import predict_frame
    >>> predict_frame("store/heads/3f2a", "new_photos/").head()  # doctest: +SKIP
    """
    from heads.loaded_inputs import progress_bar
    from heads.predict import collect_images, predict_images

    loaded = head if isinstance(head, LoadedHead) else load_head(resolve_head(head, store))
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    with progress_bar(len(collect_images(items, file_column)), progress) as bar:
        predictions = predict_images(loaded, items, store=store, batch_size=batch_size, threshold=threshold,
                                     keep=keep, file_column=file_column, on_progress=bar.update)
    return predictions_frame(predictions, loaded.classes_)
