"""What a head knows about itself: head.json, and the rows it was trained and scored on (rows.h5).

A head is bound to its data. Beside its kind and parameters, the record holds the class names
in label order, the dataset it was fitted on (name, digest of the rows, counts per split) and
the store configurations it reads. rows.h5 holds every row the head saw, by content hash, with
its split and class: later commands compare the data of the day with it, by name and by
content, never by integer label or position (see heads.binding).
"""
from __future__ import annotations

import datetime as dt
import platform
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from heads.errors import HeadError, first_line
from store import confine, read_json
from store import write_json as write_store_json
from store.text_columns import HashText

FORMAT_NAME = "bottleneck-head"
FORMAT_VERSION = 2
HEAD_FILE, METRICS_FILE, ROWS_FILE = "head.json", "metrics.json", "rows.h5"
VERSIONED_PACKAGES = ("numpy", "scikit-learn", "keras", "tensorflow", "skops", "h5py", "bottleneck-cache")
_STRINGS = h5py.string_dtype(encoding="utf-8")


@dataclass
class HeadRows:
    """The rows a head was fitted and scored on: content hash, split, class (index into class_names)."""

    hashes: Sequence[str]  # read back as a store.text_columns.HashText (reads like str, held as S64)
    splits: np.ndarray  # str
    labels: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.hashes)


def write_rows(folder: Path, rows: HeadRows) -> None:
    with h5py.File(Path(folder) / ROWS_FILE, "w") as f:
        f.create_dataset("hash", data=np.asarray(rows.hashes, dtype="S64"))
        f.create_dataset("split", data=[str(s) for s in rows.splits], dtype=_STRINGS)
        f.create_dataset("label", data=np.asarray(rows.labels, dtype="int32"))


def read_rows(folder: Path) -> HeadRows:
    path = Path(folder) / ROWS_FILE
    if not path.is_file():
        raise HeadError(f"Head folder has no {ROWS_FILE} (the rows it was trained on). Received: {folder}")
    with h5py.File(path, "r") as f:
        hashes = HashText(f["hash"][:])  # 64 bytes a row as stored, no str object per row
        splits = np.array([s.decode() if isinstance(s, bytes) else s for s in f["split"][:]], dtype=object)
        return HeadRows(hashes, splits.astype(str), f["label"][:].astype(np.int64))


def new_head_id(kind: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:4]}"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def jsonable(value: Any) -> Any:
    """Parameters and results as plain JSON (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def write_json(path: Path, data: Any) -> None:
    write_store_json(Path(path), jsonable(data))


def base_record(head_id: str, kind: str) -> dict:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "head_id": head_id, "kind": kind,
            "versions": library_versions(), "created": dt.datetime.now(dt.timezone.utc).isoformat()}


def data_record(dataset, digest: str, class_names: list[str], counts: dict[str, int], train_split: str,
                notes: list[str]) -> dict:
    """The binding of a head to its data (the `data` field of head.json)."""
    return {"dataset": dataset.name, "data_root": dataset.data_root, "digest": digest,
            "class_names": list(class_names), "counts": dict(counts), "train_split": train_split,
            "rows_file": ROWS_FILE, "notes": list(notes)}


def chosen_on_validation(record: dict) -> bool:
    """Whether something of this head was chosen on the validation split: a fine-tuned head's epoch
    (early stopping on validation), or one of an ensemble's members (recorded when it was made)."""
    stopping = (record.get("finetune") or {}).get("early_stopping") or {}
    return stopping.get("on") == "validation" or bool(record.get("chosen_on_validation"))


# What every head.json must hold, and of which JSON type: a record is read from disk and may be damaged or
# hostile, so it is checked here, once, before any command indexes into it.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "head_id": str, "kind": str, "model_file": str, "inputs": list, "data": dict, "columns": list,
    "metrics": dict, "user_params": dict, "sizes": dict, "fit_seconds": (int, float), "reduce": str,
    "class_weight": str, "created": str}
DATA_FIELDS: dict[str, type | tuple[type, ...]] = {"dataset": str, "digest": (str, type(None)),
                                                    "class_names": list}
_JSON_TYPES = {str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number",
               type(None): "null"}


def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(_JSON_TYPES[t] for t in types))


def _check_fields(record: dict, fields: dict, path: Path, prefix: str = "") -> None:
    for key, types in fields.items():
        if key not in record:
            raise HeadError(f"Damaged head record: no field {prefix}{key!r}. Received: {path}")
        value = record[key]
        if not isinstance(value, types) or (isinstance(value, bool) and types in ((int, float),)):
            raise HeadError(f"Damaged head record: field {prefix}{key!r} should be {_type_name(types)}, "
                            f"not {type(value).__name__}. Received: {path}")


def validate_record(record: Any, path: Path) -> dict:
    """Refuse a head.json that lacks a field or holds one of the wrong type, in one line naming the file."""
    if not isinstance(record, dict):
        raise HeadError(f"Damaged head record: not a JSON object. Received: {path}")
    if record.get("format") != FORMAT_NAME:
        raise HeadError(f"Not a head record (format {record.get('format')!r}). Received: {path}")
    if record.get("version") != FORMAT_VERSION:
        raise HeadError(f"Head {record.get('head_id')} has record version {record.get('version')}; this version "
                        f"reads {FORMAT_VERSION}, which binds a head to the rows it was trained on. Fit it again "
                        f"(`heads fit`). Received: {path.parent}")
    _check_fields(record, REQUIRED_FIELDS, path)
    _check_fields(record["data"], DATA_FIELDS, path, "data.")
    if not all(isinstance(c, dict) and isinstance(c.get("config_id"), str) for c in record["inputs"]):
        raise HeadError(f"Damaged head record: field 'inputs' should list configurations with a config_id. "
                        f"Received: {path}")
    if not all(isinstance(n, str) for n in record["data"]["class_names"]):
        raise HeadError(f"Damaged head record: field 'data.class_names' should list strings. Received: {path}")
    return record


def read_record(folder: Path) -> dict:
    """A head's record, checked (see validate_record): a damaged or hostile head.json is one HeadError
    naming the file, never a KeyError or a JSON parser's message without a file name."""
    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        raise HeadError(f"Not a head folder (no {HEAD_FILE}). Received: {folder}")
    try:
        record = read_json(path)
    except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HeadError(f"Damaged head record ({first_line(error)}). Received: {path}") from None
    return validate_record(record, path)


def model_path(folder: Path, record: dict) -> Path:
    """The record's model file, confined to the head folder."""
    try:
        return confine(Path(folder), record["model_file"])
    except ValueError as error:
        raise HeadError(f"Head {record.get('head_id')}: {error}") from None
