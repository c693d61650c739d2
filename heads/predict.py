"""`heads predict`: new images -> the head's inputs -> the head -> top classes (heads.predict_output lays them out).

One path for every kind. An image the store has already seen (same content hash, and
features of every configuration the head reads) is not run through a backbone again: its
stored features are used, whatever dataset it was indexed in (features computed for new images
are kept in the store, heads.predict_store, so a second call on them only reads them). The others go through the same
decode and resize path as `extract run`, then each configuration rebuilt by extract.Extractor
(for a fine-tuned head: the frozen part below its cut, then its fine-tuned top).

Inputs are what users have: image files, folders (walked), or a CSV/TSV listing files. A file
that cannot be used (missing, unreadable, not an image, a name that is not valid UTF-8: shown by its
escaped bytes) gets its row with the reason: never fatal.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from extract import hash_image_file, is_file_table
from extract.sources.file_list import read_file_list
from extract.sources.files import BAD_NAME_REASON, escaped_name, inside, name_encodable, noting_walks, walk_files
from extract.sources.reading import regular_stat
from extract.sources.report import plural
from extract.runtimes.choice import CHOICES as RUNTIME_CHOICES
from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.outputs import predictions_kind, refuse_overwrite, refuse_record_path
from heads.predict_output import OUTPUT_FORMATS, STDOUT, UNKNOWN, Prediction, output_format, write_predictions
from heads.predict_store import keep_features
from heads.tta import average, file_probabilities, view_inputs

__all__ = ["OUTPUT_FORMATS", "STDOUT", "UNKNOWN", "Prediction", "collect_images", "finish_predictions",
           "output_format", "predict_images", "write_predictions"]


def collect_images(inputs: list[str | Path], file_column: str | None = None, notes: list[str] | None = None,
                   refused: dict[Path, str] | None = None) -> list[Path]:
    """Files as given; folders walked (hidden entries skipped); a .csv/.tsv file read as a list of files
    (its file column, relative to its folder). Files are kept whatever they hold: each is judged when read.
    A list's rows that name no file are counted in a line appended to `notes`. In a folder, symlinks follow
    the data folder's rule (extract.sources.files): a symlinked folder leading outside the folder is not
    walked (a line in `notes`), a symlinked file leading outside it gets its reason in `refused`."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_file() and is_file_table(path):
            listed, blank = read_file_list(path, file_column)
            found.extend(listed)
            if blank and notes is not None:
                notes.append(f"{plural(blank, 'row')} of {path.name} name no file (blank): not predicted.")
        elif path.is_file():
            found.append(path)
        elif path.is_dir():
            with noting_walks(path) as walked:
                files, _ = walk_files(path)
            found.extend(files)
            _refuse_links_out(path, files, walked, notes, refused)
        else:
            raise HeadError(f"No such file or folder. Received: {item}")
    if not found:
        raise HeadError(f"No images found. Received: {', '.join(str(i) for i in inputs)}")
    return found


def _refuse_links_out(folder: Path, files: list[Path], walked, notes: list[str] | None,
                      refused: dict[Path, str] | None) -> None:
    if walked.links_out and notes is not None:
        links = sorted(Path(link).relative_to(folder).as_posix() + "/" for link in walked.links_out)
        notes.append(f"{plural(len(links), 'symlinked folder')} in {folder} leading outside it not followed: "
                     f"{', '.join(links[:3])}")
    if refused is not None:
        for file in files:  # a link inside the folder is judged as its target is, when read (not found...)
            if file.is_symlink() and not inside(os.path.realpath(file), walked.root):
                refused[file] = regular_stat(str(file), walked.root)[1]


def _file_hash(path: Path) -> tuple[str, str]:
    """(content hash, reason): the reason says why a file is no use (missing, unreadable, not a regular
    file, too large, not an image); only regular image files are read whole."""
    return hash_image_file(path)


def predict_images(head: str | Path | LoadedHead, inputs: list[str | Path], store: str | Path | None = None,
                   out: str | Path | None = None, top: int = 3, batch_size: int = 32, format: str | None = None,
                   verify: bool = True, on_progress: Callable[[int], None] | None = None,
                   threshold: float | None = None, file_column: str | None = None, tta: int = 0,
                   keep: bool = True, on_note: Callable[[str], None] | None = None,
                   force: bool = False, runtime: str = "tensorflow") -> list[Prediction]:
    """Predict classes of image files, folders or CSV lists of files with a head; writes `out` (CSV, JSON or
    wide; "-" for stdout) when given. Below `threshold` the best class is labelled "unknown".
    `tta`: probabilities averaged over the plain image and that many fixed test-time views (heads.tta).
    `keep`: the features computed for new images are kept in the store (heads.predict_store), so the next
    call on them reads them; `on_note` receives the line saying so (or why they could not be kept).

    Parameters
    ----------
    head : str, Path or LoadedHead
        A head folder, a head id (or unique prefix) with `store`, or a loaded head.
    inputs : list of str or Path
        Image files, folders (walked) or .csv/.tsv files listing images (`file_column`).
    store : str or Path, optional
        The store to look the head up in, reuse stored features from and keep new ones in.
    out : str or Path, optional
        File to write ("-": stdout), in `format` (csv, json, wide; else from its suffix).
    format : str, optional
        The file's format: csv, json or wide (default: from `out`'s suffix).
    top : int, default 3
        Classes kept per image, best first.
    batch_size : int, default 32
        Images per backbone batch.
    verify : bool, default True
        Check the rebuilt backbone reproduces a stored feature before computing new ones.
    on_progress : callable(int), optional
        Called with the number of images done since the last call.
    threshold : float, optional
        Below this best probability the label is "unknown".
    tta, keep, on_note, file_column
        As above.
    force : bool, default False
        Replace an existing `out` that is not a predictions file of this format (heads.outputs).
    runtime : {"tensorflow", "onnxruntime", "auto"}, default "tensorflow"
        What runs the frozen base on new images (extract.runtimes): a converted base is kept in the store and
        checked against TensorFlow on the first new images; `auto` falls back to TensorFlow with a note.

    Returns
    -------
    list of Prediction
        One per file, in input order: path, sha256, label, top classes and probabilities, `scores` (every
        class in the head's column order) and `error` (why a file could not be used; never fatal).
        For a DataFrame see `heads.predict_frame`; for an array, `LoadedHead.predict_proba`.

    Raises
    ------
    HeadError
        On a bad option, a missing input, or a head whose configuration the store cannot supply.
    """
    if out is not None:
        refuse_record_path(out)  # before any work: nothing is written when refused
    fmt = output_format(out, format)
    if top < 1 or batch_size < 1:
        raise HeadError(f"--top and --batch-size must be positive. Received: {top}, {batch_size}")
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise HeadError(f"--threshold is a probability in (0, 1]. Received: {threshold}")
    if runtime not in RUNTIME_CHOICES:
        raise HeadError(f"Unknown runtime {runtime!r}. Allowed: {', '.join(RUNTIME_CHOICES)}. Received: --runtime {runtime}")
    loaded = head if isinstance(head, LoadedHead) else load_head(resolve_head(head, store))
    if out is not None:  # still before any work
        refuse_overwrite(out, *predictions_kind(fmt, list(loaded.columns)), force=force)
    if threshold is not None and UNKNOWN in loaded.columns:
        raise HeadError(f"Head {loaded.head_id} has a class named {UNKNOWN!r}, the label --threshold gives unsure "
                        f"images: the two could not be told apart. Received: --threshold {threshold}")
    views_of = view_inputs(loaded.inputs, tta) if tta else []  # refused before any image is read
    views = loaded.inputs.views(store if store is not None else loaded.store, head_id=loaded.head_id,
                                required=store is not None)
    listing_notes: list[str] = []
    refused: dict[Path, str] = {}
    paths = collect_images(inputs, file_column, listing_notes, refused)
    refused.update({p: BAD_NAME_REASON for p in paths if not name_encodable(str(p))})  # its row, not a failed run
    for line in listing_notes if on_note else []:
        on_note(line)
    hashes, errors = (list(column) for column in zip(*(("", refused[p]) if p in refused else _file_hash(p)
                                                        for p in paths)))
    parts = [np.zeros((len(paths), *shape), np.float32) for shape in loaded.inputs.shapes]
    source = [""] * len(paths)
    readable = [i for i, (h, e) in enumerate(zip(hashes, errors)) if h and not e]
    in_store = loaded.inputs.present(views, [hashes[i] for i in readable]) if views else np.zeros(len(readable), bool)
    stored = [i for i, ok in zip(readable, in_store) if ok]
    fresh = [i for i, ok in zip(readable, in_store) if not ok]
    if stored:
        for part, values in zip(parts, loaded.inputs.stored(views, [hashes[i] for i in stored])):
            part[stored] = values
        for i in stored:
            source[i] = "store"
        if on_progress:
            on_progress(len(stored))
    if fresh:
        kept_in = store if store is not None else loaded.store if views is not None else None
        for note in loaded.inputs.use_runtime(runtime, kept_in, [str(paths[i]) for i in fresh]):
            if on_note:
                on_note(note)
        if verify and stored:  # the rebuilt inputs must reproduce what the store holds
            loaded.inputs.check_reproduces(views, str(paths[stored[0]]), hashes[stored[0]])
        computed, digests, reasons = loaded.inputs.compute([str(paths[i]) for i in fresh], batch_size, on_progress)
        if keep and views is not None:
            said = keep_features(store if store is not None else loaded.store, loaded.inputs.configs,
                                 [paths[i] for i in fresh], digests, reasons, computed)
            if on_note and said:
                on_note(said)
        for row, i in enumerate(fresh):
            hashes[i] = digests[row] or hashes[i]
            if reasons[row]:
                errors[i] = reasons[row]
                continue
            for part, values in zip(parts, computed):
                part[i] = values[row]
            source[i] = "computed"
    usable = [i for i in range(len(paths)) if source[i]]
    proba = loaded.predict_parts([part[usable] for part in parts]) if usable else \
        np.zeros((0, len(loaded.columns)))
    if views_of and usable:
        proba = average(proba, file_probabilities(loaded.model, views_of, store if store is not None else loaded.store,
                                                  [str(paths[i]) for i in usable], [hashes[i] for i in usable],
                                                  batch_size))
    return finish_predictions(loaded, paths, hashes, source, errors, usable, proba, top, out, fmt, threshold)


def finish_predictions(loaded: LoadedHead, paths: list[Path], hashes: list[str], source: list[str], errors: list[str],
                       usable: list[int], proba: np.ndarray, top: int, out, fmt: str,
                       threshold: float | None = None) -> list[Prediction]:
    """The top classes of each usable image (rows of `proba` follow `usable`) and its label; written to `out`
    when given."""
    names = np.asarray(loaded.columns)
    predictions = [Prediction(escaped_name(str(p)), hashes[i], source[i], error=errors[i]) for i, p in enumerate(paths)]
    k = min(top, len(names))
    for row, i in enumerate(usable):
        best = np.argsort(-proba[row], kind="stable")[:k]
        predictions[i].classes = names[best].tolist()
        predictions[i].probabilities = [float(v) for v in proba[row][best]]
        predictions[i].scores = [float(v) for v in proba[row]]
        sure = threshold is None or predictions[i].probabilities[0] >= threshold
        predictions[i].label = predictions[i].classes[0] if sure else UNKNOWN
    if out is not None:
        write_predictions(predictions, out, fmt, k, loaded.record, threshold)
    return predictions

