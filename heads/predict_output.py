"""What `heads predict` writes: one row per input file, as CSV (top classes), JSON, or wide (one
probability column per class: the shape of a Kaggle submission), to a file or to stdout ("-").

Kept apart from heads.predict, which decides the numbers: this module only lays them out.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from heads.errors import HeadError
from store import write_bytes
from store.printable import printable_text

OUTPUT_FORMATS = ("csv", "json", "wide")
STDOUT = "-"
UNKNOWN = "unknown"  # the label of an image whose best probability is below the threshold


@dataclass
class Prediction:
    path: str
    sha256: str
    features: str  # "store", "computed", or "" when the file could not be used
    classes: list[str] = field(default_factory=list)  # best first
    probabilities: list[float] = field(default_factory=list)
    error: str = ""
    label: str = ""  # the best class, or "unknown" below the threshold; "" when the file could not be used
    scores: list[float] = field(default_factory=list, repr=False)  # every class, in the head's column order


def output_format(out: str | Path | None, format: str | None) -> str:
    """The format asked for, else the --out suffix's; JSON to stdout, CSV when nothing is written."""
    fmt = getattr(format, "value", format)
    if not fmt:
        fmt = "json" if str(out) == STDOUT else Path(out).suffix.lower().lstrip(".") if out else "csv"
    if fmt not in OUTPUT_FORMATS:
        raise HeadError(f"Unknown output format {fmt!r}. Allowed: {', '.join(OUTPUT_FORMATS)} "
                        f"(from --format or the --out suffix)")
    return fmt


def write_predictions(predictions: list[Prediction], out: str | Path, fmt: str, top: int, record: dict,
                      threshold: float | None = None) -> None:
    """Write to the file `out` (staged: whole or not at all), or to stdout when `out` is "-"."""
    text = render_predictions(predictions, fmt, top, record, threshold)
    if str(out) == STDOUT:
        if sys.stdout.isatty():  # a person reads it: a file name's control characters shown, not obeyed
            text = printable_text(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(Path(out), text.encode())


def render_predictions(predictions: list[Prediction], fmt: str, top: int, record: dict,
                       threshold: float | None = None) -> str:
    if fmt == "json":
        return _json(predictions, record, threshold)
    if fmt == "wide":
        return _wide(predictions, record["columns"])
    return _top_csv(predictions, top)


def _json(predictions: list[Prediction], record: dict, threshold: float | None) -> str:
    payload = {"head": record["head_id"], "kind": record["kind"], "inputs": [c["config_id"] for c in record["inputs"]],
               "classes": record["columns"], "threshold": threshold,
               "predictions": [{"path": p.path, "sha256": p.sha256, "features": p.features, "label": p.label,
                                "top": [{"class": c, "probability": v} for c, v in zip(p.classes, p.probabilities)],
                                "error": p.error} for p in predictions]}
    return json.dumps(payload, indent=2) + "\n"


def _top_csv(predictions: list[Prediction], top: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["path", "sha256", "features", "error", "label"]
    for rank in range(1, top + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    writer.writerow(header)
    for p in predictions:
        row = [p.path, p.sha256, p.features, p.error, p.label]
        for rank in range(top):
            row += ([p.classes[rank], f"{p.probabilities[rank]:.6f}"] if rank < len(p.classes) else ["", ""])
        writer.writerow(row)
    return buffer.getvalue()


def wide_ids(paths: list[str]) -> tuple[list[str], str | None]:
    """One unique id per file for `--format wide`: the file's stem, as Kaggle ids are; when two files share a
    stem (`a/1.jpg`, `b/1.jpg`), every id is the path under the files' common folder, without the suffix (with
    it, if that still repeats), and a one-line note says so.

    Parameters
    ----------
    paths : list of str
        The files, in the output's order.

    Returns
    -------
    (list of str, str or None)
        The ids, and the note (None when the stems were unique).
    """
    stems = [PurePath(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems, None
    common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    relative = [PurePath(os.path.relpath(os.path.abspath(p), common)).as_posix() for p in paths]
    ids = [str(PurePath(r).with_suffix("")) for r in relative]
    if len(set(ids)) != len(ids):
        ids = relative
    counts = Counter(stems)
    repeated = [stem for stem in stems if counts[stem] > 1]
    return ids, (f"{len(repeated)} files share a name with another (e.g. {repeated[0]!r}): the wide ids are their "
                 f"paths under {common}, so that each is unique.")


def _wide(predictions: list[Prediction], columns: list[str]) -> str:
    """id (unique: see wide_ids), then one probability column per class in the head's column order; files that
    could not be used have no row (they are reported apart)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", *columns])
    usable = [p for p in predictions if p.scores]
    for p, name in zip(usable, wide_ids([p.path for p in usable])[0]):
        writer.writerow([name, *(f"{v:.6f}" for v in p.scores)])
    return buffer.getvalue()
