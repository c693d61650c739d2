"""`heads predict`: new images -> the head's inputs -> the head -> top classes, as CSV or JSON.

One path for every kind. An image the store has already seen (same content hash, and
features of every configuration the head reads) is not run through a backbone again: its
stored features are used. The others go through the same decode and resize path as
`extract run`, then each configuration rebuilt by extract.Extractor (for a fine-tuned head:
the frozen part below its cut, then its fine-tuned top).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from extract import sniff
from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.tta import average, file_probabilities, view_inputs
from store import write_bytes

OUTPUT_FORMATS = ("csv", "json")


@dataclass
class Prediction:
    path: str
    sha256: str
    features: str  # "store", "computed", or "" when the file could not be used
    classes: list[str] = field(default_factory=list)  # best first
    probabilities: list[float] = field(default_factory=list)
    error: str = ""


def output_format(out: str | Path | None, format: str | None) -> str:
    fmt = getattr(format, "value", format) or (Path(out).suffix.lower().lstrip(".") if out else "csv")
    if fmt not in OUTPUT_FORMATS:
        raise HeadError(f"Unknown output format {fmt!r}. Allowed: {', '.join(OUTPUT_FORMATS)} "
                        f"(from --format or the --out suffix)")
    return fmt


def collect_images(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders walked (hidden entries skipped), keeping files that look like images."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    candidate = Path(dirpath) / name
                    if not name.startswith(".") and sniff(candidate.read_bytes()[:16]) is not None:
                        found.append(candidate)
        else:
            raise HeadError(f"No such file or folder. Received: {item}")
    if not found:
        raise HeadError(f"No images found. Received: {', '.join(str(i) for i in inputs)}")
    return found


def _file_hash(path: Path) -> tuple[str, str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest(), ""
    except OSError as error:
        return "", f"unreadable: {error.strerror or error}"


def predict_images(head: str | Path, inputs: list[str | Path], store: str | Path | None = None,
                   out: str | Path | None = None, top: int = 3, batch_size: int = 32, format: str | None = None,
                   verify: bool = True, on_progress: Callable[[int], None] | None = None,
                   tta: int = 0) -> list[Prediction]:
    """Predict classes of image files or folders with a head; writes `out` (CSV or JSON) when given.
    `tta`: probabilities averaged over the plain image and that many fixed test-time views (heads.tta)."""
    fmt = output_format(out, format)
    if top < 1 or batch_size < 1:
        raise HeadError(f"--top and --batch-size must be positive. Received: {top}, {batch_size}")
    loaded = load_head(resolve_head(head, store))
    views_of = view_inputs(loaded.inputs, tta) if tta else []  # refused before any image is read
    views = loaded.inputs.views(store if store is not None else loaded.store, head_id=loaded.head_id,
                                required=store is not None)
    paths = collect_images(inputs)
    hashes, errors = (list(column) for column in zip(*(_file_hash(p) for p in paths)))
    parts = [np.zeros((len(paths), *shape), np.float32) for shape in loaded.inputs.shapes]
    source = [""] * len(paths)
    readable = [i for i, h in enumerate(hashes) if h]
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
        if verify and stored:  # the rebuilt inputs must reproduce what the store holds
            loaded.inputs.check_reproduces(views, str(paths[stored[0]]), hashes[stored[0]])
        computed, digests, reasons = loaded.inputs.compute([str(paths[i]) for i in fresh], batch_size, on_progress)
        for row, i in enumerate(fresh):
            hashes[i] = digests[row] or hashes[i]
            if reasons[row]:
                errors[i] = reasons[row]
                continue
            for part, values in zip(parts, computed):
                part[i] = values[row]
            source[i] = "computed"
    usable = [i for i in range(len(paths)) if source[i]]
    proba = loaded.predict_proba([part[usable] for part in parts]) if usable else \
        np.zeros((0, len(loaded.columns)))
    if views_of and usable:
        proba = average(proba, file_probabilities(loaded.model, views_of, store if store is not None else loaded.store,
                                                  [str(paths[i]) for i in usable], [hashes[i] for i in usable],
                                                  batch_size))
    return finish_predictions(loaded, paths, hashes, source, errors, usable, proba, top, out, fmt)


def finish_predictions(loaded: LoadedHead, paths: list[Path], hashes: list[str], source: list[str], errors: list[str],
                       usable: list[int], proba: np.ndarray, top: int, out, fmt: str) -> list[Prediction]:
    """The top classes of each usable image (rows of `proba` follow `usable`); written to `out` when given."""
    names = np.asarray(loaded.columns)
    predictions = [Prediction(str(p), hashes[i], source[i], error=errors[i]) for i, p in enumerate(paths)]
    k = min(top, len(names))
    for row, i in enumerate(usable):
        best = np.argsort(-proba[row], kind="stable")[:k]
        predictions[i].classes = names[best].tolist()
        predictions[i].probabilities = [float(v) for v in proba[row][best]]
    if out is not None:
        write_predictions(predictions, Path(out), fmt, k, loaded.record)
    return predictions


def write_predictions(predictions: list[Prediction], out: Path, fmt: str, top: int, record: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        payload = {"head": record["head_id"], "kind": record["kind"], "inputs": [c["config_id"] for c in record["inputs"]],
                   "classes": record["columns"],
                   "predictions": [{"path": p.path, "sha256": p.sha256, "features": p.features,
                                    "top": [{"class": c, "probability": v} for c, v in zip(p.classes, p.probabilities)],
                                    "error": p.error} for p in predictions]}
        write_bytes(out, (json.dumps(payload, indent=2) + "\n").encode())
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["path", "sha256", "features", "error"]
    for rank in range(1, top + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    writer.writerow(header)
    for p in predictions:
        row = [p.path, p.sha256, p.features, p.error]
        for rank in range(top):
            row += ([p.classes[rank], f"{p.probabilities[rank]:.6f}"] if rank < len(p.classes) else ["", ""])
        writer.writerow(row)
    write_bytes(out, buffer.getvalue().encode())
