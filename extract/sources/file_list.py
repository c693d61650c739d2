"""A table that lists files (paths to predict, a Kaggle sample submission of ids) as the files it names.

The file column is found as a labels table's is (id, filename, file, path, image; or the only
column), each value is relative to the table's own folder, and an id that names no file gets the
image extension of the file that exists (Kaggle's `id` column). Rows naming nothing on disk are
kept: the caller reports them, one by one, rather than failing on the first.
"""
from __future__ import annotations

from pathlib import Path

from extract.sources.records import ScanError
from extract.sources.table import FILE_COLUMNS, read_table
from extract.sources.table_labels import EXTENSION_TRIES

TABLE_SUFFIXES = (".csv", ".tsv", ".tab")


def is_file_table(path: str | Path) -> bool:
    """Whether a path names a table of files (.csv, .tsv, .tab) rather than an image or a folder.

    Parameters
    ----------
    path : str or Path
        What the user gave.

    Returns
    -------
    bool
    """
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def listed_files(table_path: str | Path, file_column: str | None = None) -> list[Path]:
    """The files the table names, in its row order (blank values skipped); paths that do not exist
    are returned as they are, for the caller to report.

    Parameters
    ----------
    table_path : str or Path
        A CSV or TSV file; its paths are relative to its folder.
    file_column : str, optional
        The column of the files (default: detected: id, filename, file, path, image).

    Returns
    -------
    list of Path

    Raises
    ------
    ExtractError
        When the table cannot be read or its file column is not found.
    """
    return read_file_list(table_path, file_column)[0]


def read_file_list(table_path: str | Path, file_column: str | None = None) -> tuple[list[Path], int]:
    """`listed_files`, and how many rows named no file (blank lines, an empty file value): counted for
    the caller's note, never dropped in silence.

    Parameters
    ----------
    table_path, file_column
        As `listed_files`.

    Returns
    -------
    tuple of (list of Path, int)
        The files, and the count of rows that named none.
    """
    path = Path(table_path)
    table = read_table(path)
    column = _file_column(table.columns, file_column, path.name)
    folder = path.parent
    files, blank = [], table.blank
    for row in table.rows:
        value = row[column].replace("\\", "/")
        if value:
            files.append(_existing(folder / value))
        else:
            blank += 1
    return files, blank


def _file_column(columns: list[str], wanted: str | None, name: str) -> int:
    lowered = [c.lower() for c in columns]
    if wanted is not None:
        if wanted.lower() in lowered:
            return lowered.index(wanted.lower())
        raise ScanError(f"{name} has no column {wanted!r}. Columns found: {', '.join(columns)}")
    matches = [i for i, c in enumerate(lowered) if c in FILE_COLUMNS]
    if len(matches) == 1:
        return matches[0]
    if not matches and len(columns) == 1:
        return 0
    what = "several file columns" if matches else f"no file column (one of {', '.join(FILE_COLUMNS)})"
    raise ScanError(f"{name} has {what}: name the column of the files. Columns found: {', '.join(columns)}")


def _existing(path: Path) -> Path:
    """The path, or the path with the image extension under which the file exists (an id)."""
    if path.exists():
        return path
    for extension in EXTENSION_TRIES + tuple(e.upper() for e in EXTENSION_TRIES):
        candidate = path.with_name(path.name + extension)
        if candidate.exists():
            return candidate
    return path
