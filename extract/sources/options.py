"""DataOptions: how to read a data folder as a dataset (labels, splits, name), as the user gives it.

One object for the Python API and the CLI, checked once, so every refusal is the same one line
whichever way the options came in.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from extract.sources.records import ScanError
from extract.sources.table import locate_table

LAYOUTS = ("auto", "splits", "classes", "table", "pattern", "unlabelled")


@dataclass(frozen=True)
class DataOptions:
    """How a data folder is read: labels from folders, a table or file names; splits; the dataset's
    name (`extract run`'s data options, same names).

    Parameters
    ----------
    name : str, optional
        The dataset's name in the store (default: the data folder's name).
    layout : str, default "auto"
        auto, splits, classes, table, pattern or unlabelled (docs/data.md).
    val_fraction, test_fraction : float
        Fractions of each class kept aside, for files whose split no folder or table column gives.
    split_seed : int, default 0
        Seed of that split (0 keeps retrain.py's split exactly).
    labels : str or Path, optional
        A CSV/TSV (or .parquet) table of labels.
    file_column, label_column, split_column : str, optional
        The table's columns (default: detected by name).
    extension : str, optional
        Added to ids that name no file (default: the image extensions are tried).
    label_pattern : str, optional
        A regular expression with one group, searched in the file name: the label.
    unlabelled : bool, default False
        Read folders of loose images (or unlisted files) as unlabelled rows.
    group_duplicates : bool, default False
        After extraction, near duplicates the split rule placed apart join one split.
    """
    name: str | None = None  # dataset name; None = the data folder's name
    layout: str = "auto"
    val_fraction: float = 0.2  # for files whose split is not given by a folder or a table column
    test_fraction: float = 0.0
    split_seed: int = 0  # 0 keeps retrain.py's split exactly
    labels: str | Path | None = None  # a CSV/TSV (or .parquet, when pandas can read it) table of labels
    file_column: str | None = None  # None = detect (id, filename, file, path, image)
    label_column: str | None = None  # None = detect (label, class, breed, category)
    split_column: str | None = None  # None = detect (split, subset); absent = the split rule
    extension: str | None = None  # added to ids that name no file; None = try the image extensions
    label_pattern: str | None = None  # a regular expression with one group, searched in the file name
    unlabelled: bool = False  # read folders of loose images (or unlisted files) as unlabelled rows
    group_duplicates: bool = False  # after extraction, near duplicates the split rule placed join one split

    @classmethod
    def from_kwargs(cls, options: "DataOptions | None", kwargs: dict) -> "DataOptions":
        """`options` with `kwargs` applied: keeps `scan_dataset(root, val_fraction=..., layout=...)`."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ScanError(f"Unknown data option {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}")
        return dataclasses.replace(options or cls(), **kwargs)

    def to_record(self) -> dict:
        """The options as JSON for a dataset index, so that a later run can read the same folder the
        same way (DataOptions.from_record); checked options hold the table's absolute path."""
        return {**dataclasses.asdict(self), "labels": None if self.labels is None else str(self.labels)}

    @classmethod
    def from_record(cls, source: dict) -> "DataOptions":
        """The options a dataset index was read with: its `options` record, or for an index written
        before they were kept, what its source says (layout auto, fractions, table, pattern)."""
        recorded = source.get("options")
        allowed = {f.name for f in dataclasses.fields(cls)}
        if isinstance(recorded, dict):
            return cls(**{k: v for k, v in recorded.items() if k in allowed})
        labels, splits = source.get("labels") or {}, source.get("splits") or {}
        origin = labels.get("from")
        table = {"labels": labels.get("table"), "file_column": labels.get("file_column"),
                 "label_column": labels.get("label_column"), "split_column": labels.get("split_column")}
        return cls(name=source.get("name"), layout="unlabelled" if origin == "none" else "auto",
                   val_fraction=splits.get("val_fraction", source.get("val_fraction", 0.2)),
                   test_fraction=splits.get("test_fraction", 0.0), split_seed=splits.get("seed", 0),
                   label_pattern=labels.get("pattern") if origin == "pattern" else None,
                   unlabelled=bool(source.get("unlabelled", False)), **(table if origin == "table" else {}))

    def differences(self, other: "DataOptions") -> list[str]:
        """What reads the data otherwise in `other` ("val_fraction 0.2 -> 0.3"), the name aside; both
        checked (a labels table compares by its located path)."""
        return [f"{f.name} {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}".replace("'", "")
                for f in dataclasses.fields(self)
                if f.name != "name" and getattr(self, f.name) != getattr(other, f.name)]

    def checked(self, root: Path) -> "DataOptions":
        """The options with the name filled in and the labels table located (an absolute path, so the
        record reads the same from anywhere), or a one-line refusal of the first thing wrong."""
        if self.layout not in LAYOUTS:
            raise ScanError(f"layout must be one of {', '.join(LAYOUTS)}. Received: {self.layout!r}")
        for label, value in (("val_fraction", self.val_fraction), ("test_fraction", self.test_fraction)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ScanError(f"{label} must be a number in [0, 1). Received: {value!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ScanError(f"val_fraction + test_fraction must stay below 1 (some images must be left to train). "
                            f"Received: {self.val_fraction} + {self.test_fraction}")
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int) or self.split_seed < 0:
            raise ScanError(f"split_seed must be a whole number >= 0. Received: {self.split_seed!r}")
        if not isinstance(self.group_duplicates, bool):
            raise ScanError(f"group_duplicates is True or False. Received: {self.group_duplicates!r}")
        self._check_sources()
        name = root.resolve().name if self.name is None else self.name
        if not name.strip() or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ScanError(f"The dataset name must be a non-empty name without a path separator. Received: {name!r}")
        labels = None if self.labels is None else str(locate_table(self.labels, root).resolve())
        return dataclasses.replace(self, name=name, labels=labels)

    def _check_sources(self) -> None:
        if self.labels is not None and self.label_pattern is not None:
            raise ScanError("Labels come from a table (labels) or from file names (label_pattern), not both. "
                            f"Received: labels={self.labels}, label_pattern={self.label_pattern!r}")
        wants = {"table": self.labels is not None, "pattern": self.label_pattern is not None}
        for layout, given in wants.items():
            option = "labels" if layout == "table" else "label_pattern"
            if given and self.layout not in ("auto", layout):
                raise ScanError(f"{option} goes with layout auto or {layout}. Received: layout={self.layout!r}")
            if self.layout == layout and not given:
                raise ScanError(f"layout {layout} needs {option}. Received: {option}=None")
        table_options = {"file_column": self.file_column, "label_column": self.label_column,
                         "split_column": self.split_column, "extension": self.extension}
        stray = [k for k, v in table_options.items() if v is not None]
        if stray and self.labels is None:
            raise ScanError(f"{', '.join(stray)} only apply to a labels table. Received: labels=None")
