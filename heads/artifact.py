"""A head on disk: one folder, published whole, and loading it back as one object for every kind.

    <store>/heads/<head-id>/
        head.json         what it is: kind, parameters, the configurations it reads, its data binding
        rows.h5           the rows it was fitted and scored on (content hash, split, class)
        metrics.json      per split: accuracy, per-class precision/recall/F1, confusion matrix, log loss
        model.keras       dense and fine-tuned heads (Keras); model.skops: scikit-learn heads
        history.json      Keras heads: loss and accuracy per epoch
        confusion_<split>.png, learning_curves.png

The folder is built under a hidden temporary name and renamed into place (the store's staged
folder), so a reader (`heads list`) never sees a half-written head.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heads import record as records
from heads.errors import HeadError, first_line, safe_mode_refusal
from heads.inputs import HeadInputs
from heads.kinds.models import HeadModel
from heads.kinds.registry import Kind, get_kind
from heads.outputs import refuse_record_folder
from store import read_json, staged_folder as store_staged_folder
from store.atomic import remove_folder

HISTORY_FILE = "history.json"
ZIP_SUFFIXES = (".keras", ".skops")  # both formats are zip archives: a cut one is said as such, not "not found"


def heads_dir(store: str | Path) -> Path:
    return Path(store) / "heads"


def check_out(out: str | Path | None) -> None:
    """Refuse an output folder that exists and is not empty, or lies in a store's records or a head folder,
    before any work is done."""
    if out is not None:
        refuse_record_folder(out)
    if out is not None and Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())):
        raise HeadError(f"Output folder exists and is not empty. Received: --out {out}")


def staged_folder(final: Path):
    """Build a head folder under a temporary name; renamed into place when the block succeeds."""
    check_out(final)
    return store_staged_folder(Path(final))


@dataclass
class LoadedHead:
    """A head folder loaded: its record, the inputs it reads and its model (see `load_head`, which makes it).

    Parameters
    ----------
    folder : Path
        The head folder.
    record : dict
        Its head.json.
    kind : Kind
        Its kind (heads.kinds.registry).
    inputs : HeadInputs
        The configurations it reads.
    model : HeadModel
        Its model, loaded.

    Attributes
    ----------
    classes_ : ndarray of str
        Class names, in the order of `predict_proba`'s columns.
    labels_ : ndarray of int
        The model's integer labels in the same order.
    inputs : HeadInputs
        The configurations it reads (`inputs.ids`) and their feature shapes (`inputs.shapes`).
    record : dict
        Its head.json.

    Examples
    --------
    >>> head = load_head("store/heads/3f2a")   # doctest: +SKIP
    >>> head.predict(["cat.jpg"])             # doctest: +SKIP
    array(['cats'], dtype='<U4')
    """

    folder: Path
    record: dict
    kind: Kind
    inputs: HeadInputs
    model: HeadModel
    _rows: records.HeadRows | None = field(default=None, repr=False)

    @property
    def head_id(self) -> str:
        return self.record["head_id"]

    @property
    def class_names(self) -> list[str]:
        """The head's classes in label order (the names its integer labels stand for)."""
        return list(self.record["data"]["class_names"])

    @property
    def columns(self) -> list[str]:
        """Names of the probability columns, in order."""
        return list(self.record["columns"])

    @property
    def classes_(self) -> np.ndarray:
        """Class names, in the order of `predict_proba`'s columns (what `predict` returns)."""
        return np.asarray(self.columns)

    @property
    def labels_(self) -> np.ndarray:
        """The model's integer labels, in the same order as `classes_` (they index `class_names`)."""
        return np.asarray(self.model.classes_)

    @property
    def store(self) -> Path:
        return Path(self.record["store"])

    @property
    def rows(self) -> records.HeadRows:
        if self._rows is None:
            self._rows = records.read_rows(self.folder)
        return self._rows

    def predict_proba(self, X, batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        """Class probabilities, one row per input, one column per class in `classes_` order.

        Parameters
        ----------
        X : image paths, a folder, decoded images, or the head's features
            Paths (a str/Path, or a list of them; folders are walked); decoded images (an ndarray
            (n, h, w, 3) of uint8, or a list of PIL images); or features of the configuration the head reads
            (an ndarray (n, ...)), or for a joined head a list or a dict {configuration id: features} with
            one entry per configuration. Images go through the head's own backbone(s), decoding and
            resizing exactly as `heads predict` does.
        batch_size : int, default 32
            Images per backbone batch.
        progress : bool, optional
            A progress bar on stderr while images go through a backbone; by default on in a terminal or
            notebook. False: none.

        Returns
        -------
        ndarray of shape (n, len(classes_))

        Raises
        ------
        HeadError
            When an input is not one of these, or an image cannot be used (the line names it).

        Examples
        --------
        >>> head = load_head("store/heads/3f2a")               # doctest: +SKIP
        >>> head.predict_proba(["cat.jpg", "dog.jpg"]).shape  # doctest: +SKIP
        (2, 2)
        """
        from heads.loaded_inputs import probabilities
        return probabilities(self, X, batch_size, progress)

    def predict(self, X, batch_size: int = 32, progress: bool | None = None) -> np.ndarray:
        """The most probable class name of each input (argmax of `predict_proba`, ties to the first).

        Parameters
        ----------
        X, batch_size, progress
            As for `predict_proba`.

        Returns
        -------
        ndarray of shape (n,)
            Class names from `classes_`.
        """
        return self.classes_[np.argmax(self.predict_proba(X, batch_size, progress), axis=1)]

    def predict_parts(self, parts: list[np.ndarray]) -> np.ndarray:
        """Probabilities of features given as one array per configuration the head reads (in `inputs` order)."""
        return self.model.predict_proba(parts)


def load_head(folder: str | Path) -> LoadedHead:
    """Load a head folder as one object, whatever its kind.

    Parameters
    ----------
    folder : str or Path
        A head folder (see `resolve_head` to find one by id in a store).

    Returns
    -------
    LoadedHead
        With `classes_`, `predict_proba(X)` and `predict(X)` taking image paths, images or features.

    Raises
    ------
    HeadError
        When the folder is not a head, or its model file is missing.
    """
    folder = Path(folder)
    record = records.read_record(folder)
    kind = get_kind(record["kind"])
    model_file = records.model_path(folder, record)
    if not model_file.is_file():
        raise HeadError(f"Head folder has no model file {record['model_file']}. Received: {folder}")
    history_file = folder / HISTORY_FILE
    try:
        history = read_json(history_file) if history_file.is_file() else {}
    except (ValueError, OSError) as error:
        raise HeadError(f"Damaged head file {HISTORY_FILE} ({first_line(error)}). Received: {history_file}") from None
    if model_file.suffix in ZIP_SUFFIXES and not zipfile.is_zipfile(model_file):
        raise HeadError(f"Damaged head model {model_file.name}: not a complete zip archive (truncated or "
                        f"overwritten). Received: {model_file}")
    inputs = HeadInputs.from_record(record)
    try:
        model = kind.load(model_file, record, history)
    except HeadError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged or hostile model file: zip, HDF5, Keras safe mode...
        blocked = safe_mode_refusal(error)
        if blocked:
            raise HeadError(f"Refusing to load head model {model_file.name}: Keras safe mode blocked it "
                            f"({blocked}). Received: {model_file}") from None
        raise HeadError(f"Cannot load head model {model_file.name} ({type(error).__name__}: {first_line(error)}). "
                        f"Received: {model_file}") from None
    return LoadedHead(folder, record, kind, inputs, model)


def _head_folders(store: str | Path) -> list[Path]:
    root = heads_dir(store)
    if not root.is_dir():
        return []
    return [folder for folder in sorted(root.iterdir()) if folder.is_dir() and not folder.name.startswith(".")
            and (folder / records.HEAD_FILE).is_file()]


def list_heads(store: str | Path) -> list[tuple[Path, dict]]:
    """(folder, record) of every published head of a store; half-built (hidden) folders are skipped, and so
    are damaged records and heads of an older record version (said by `heads list`: see damaged_heads)."""
    found = []
    for folder in _head_folders(store):
        try:
            found.append((folder, records.read_record(folder)))
        except HeadError:
            continue
    return found


def damaged_heads(store: str | Path) -> list[tuple[Path, str]]:
    """(folder, what is wrong) of every head folder whose record cannot be used: one never blocks the others."""
    damaged = []
    for folder in _head_folders(store):
        try:
            records.read_record(folder)
        except HeadError as error:
            damaged.append((folder, first_line(error)))
    return damaged


def resolve_head(head: str | Path, store: str | Path | None = None) -> Path:
    """A head folder from a path, or from an id (or unique id prefix) among the store's heads.

    Parameters
    ----------
    head : str or Path
        A head folder, or a head id (or unique prefix).
    store : str or Path, optional
        The store whose heads an id is looked up among.

    Returns
    -------
    Path
        The head folder.

    Raises
    ------
    HeadError
        When no head, or several, match.
    """
    path = Path(head)
    if (path / records.HEAD_FILE).is_file():
        return path
    if store is None:
        raise HeadError(f"Not a head folder (no {records.HEAD_FILE}); give --store to look a head up by id. "
                        f"Received: {head}")
    ids = [folder.name for folder, _ in list_heads(store)]
    matches = [i for i in ids if i == str(head)] or [i for i in ids if i.startswith(str(head))]
    if len(matches) == 1:
        return heads_dir(store) / matches[0]
    if not matches:
        raise HeadError(f"No head {str(head)!r} in store {store} (it holds {len(ids)} heads; see `heads list`).")
    raise HeadError(f"Several heads match {str(head)!r}: {', '.join(matches)}")


def remove_head(head: str | Path, store: str | Path | None = None) -> Path:
    """Remove a head folder as one step (store.atomic.remove_folder): `heads list` never sees half of it.

    Nothing else depends on a head: an ensemble holds copies of its members, a fine-tuned head names the head
    it started from only as a record of where it came from.

    Parameters
    ----------
    head : str or Path
        A head folder, or a head id (or unique id prefix) with `store`.
    store : str or Path, optional
        The store whose heads an id is looked up among.

    Returns
    -------
    Path
        The folder that was removed.
    """
    folder = resolve_head(head, store)
    records.read_record(folder)  # a folder that is not a head (or one we cannot read) is refused, untouched
    remove_folder(folder)
    return folder
