"""Reading a labels table (CSV, TSV, or Parquet when pandas can read it) and choosing its columns.

Kaggle datasets and most annotation tools hand labels over as a table, not as folders. The csv
module reads CSV and TSV with no new dependency; Parquet is read only when pandas (with pyarrow)
happens to be installed. Columns are found by their usual names, or named by the user; an
ambiguous or missing column is refused in one line that lists the columns found.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from extract.sources.records import ScanError

FILE_COLUMNS = ("id", "filename", "file", "path", "image")
LABEL_COLUMNS = ("label", "class", "breed", "category")
SPLIT_COLUMNS = ("split", "subset")
TAB_SUFFIXES = (".tsv", ".tab")


@dataclass
class Table:
    path: Path
    columns: list[str]
    rows: list[list[str]]  # every row as long as `columns`, values stripped; "" for a missing value
    blank: int = 0  # rows left out because they hold no value at all (blank lines)


@dataclass(frozen=True)
class Columns:
    file: int
    label: int
    split: int | None
    names: tuple[str, str, str | None]


def locate_table(labels: str | Path, root: Path) -> Path:
    """The table as given, else inside the data folder (labels.csv next to the images)."""
    path = Path(labels)
    if not path.is_file() and not path.is_absolute() and (root / path).is_file():
        path = root / path
    if not path.is_file():
        raise ScanError(f"Labels table not found (looked here and in the data folder). Received: labels={labels}")
    return path


def read_table(path: Path) -> Table:
    if path.suffix.lower() == ".parquet":
        header, raw = _read_parquet(path)
    else:
        header, raw = _read_delimited(path)
    header = [name.strip() for name in header]
    if not header or not any(header):
        raise ScanError(f"The labels table has no header row (column names). Received: {path}")
    width = len(header)
    rows = [[value.strip() for value in (row + [""] * width)[:width]] for row in raw if any(v.strip() for v in row)]
    return Table(path, header, rows, len(raw) - len(rows))


def _read_delimited(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ScanError(f"Cannot read the labels table as UTF-8 text ({error}). Received: {path}") from None
    first = text.split("\n", 1)[0]
    if path.suffix.lower() in TAB_SUFFIXES:
        delimiter = "\t"
    else:  # a CSV written with ; (spreadsheets in many locales) or tabs reads just as well
        delimiter = max((",", ";", "\t"), key=first.count) if any(d in first for d in ",;\t") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return (rows[0], rows[1:]) if rows else ([], [])


def _read_parquet(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        import pandas  # optional: only when already installed, never a dependency
        frame = pandas.read_parquet(path)
    except ImportError:
        raise ScanError(f"Reading a .parquet table needs pandas with pyarrow, which are not installed; "
                        f"save the table as CSV. Received: {path}") from None
    frame = frame.astype(object).where(frame.notna(), "")
    return [str(c) for c in frame.columns], [[str(v) for v in row] for row in frame.itertuples(index=False)]


def choose_columns(table: Table, file_column: str | None, label_column: str | None,
                   split_column: str | None) -> Columns:
    file = _choose(table, file_column, FILE_COLUMNS, "file", "file_column", required=True)
    label = _choose(table, label_column, LABEL_COLUMNS, "label", "label_column", required=True)
    split = _choose(table, split_column, SPLIT_COLUMNS, "split", "split_column", required=False)
    if file == label:
        raise ScanError(f"The file and label columns of {table.path.name} must differ. "
                        f"Received: {table.columns[file]!r} for both")
    if split is not None and split in (file, label):
        raise ScanError(f"The split column of {table.path.name} must differ from the file and label columns. "
                        f"Received: {table.columns[split]!r}")
    names = (table.columns[file], table.columns[label], None if split is None else table.columns[split])
    return Columns(file, label, split, names)


def _choose(table: Table, wanted: str | None, usual: tuple[str, ...], role: str, option: str,
            required: bool) -> int | None:
    columns = table.columns
    found = ", ".join(columns)
    if wanted is not None:
        exact = [i for i, c in enumerate(columns) if c == wanted]
        loose = [i for i, c in enumerate(columns) if c.lower() == wanted.strip().lower()]
        if exact or len(loose) == 1:
            return (exact or loose)[0]
        raise ScanError(f"{table.path.name} has no column {wanted!r} ({option}). Columns found: {found}")
    matches = [i for i, c in enumerate(columns) if c.lower() in usual]
    if len(matches) > 1:
        names = ", ".join(columns[i] for i in matches)
        raise ScanError(f"{table.path.name} has several {role} columns ({names}): name one with {option}. "
                        f"Columns found: {found}")
    if not matches and required:
        raise ScanError(f"{table.path.name} has no {role} column (one of {', '.join(usual)}): name it with "
                        f"{option}. Columns found: {found}")
    return matches[0] if matches else None
