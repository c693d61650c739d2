"""Where an output may not go, and what it may not replace.

A report or prediction file written over store.json, a configuration's or dataset's files, or a head's
record or model would lose them (the store unreadable, the head gone). Every `--out` path is checked
here, before any work is done, so a refusal writes nothing:

- `refuse_record_path`: no output file inside a store's records (store.json, configs/, datasets/) or
  inside a head folder, except the pages a command writes there itself (`heads report`'s default);
- `refuse_record_folder`: no output folder (a head, an export, a page's folder) there either;
- `refuse_overwrite`: an existing file is replaced only when it is the command's own kind of output
  (recognised by its first bytes), or with `--force`: a labels CSV or a notes file given as `--out`
  by mistake is kept.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from heads.errors import HeadError

STORE_MARKER, HEAD_MARKER = "store.json", "head.json"
STORE_RECORD_FOLDERS = ("configs", "datasets")  # everything under these is the store's own
SNIFF_BYTES = 4096

# The first bytes of each kind of output (a file starting otherwise is not replaced without --force).
HTML_PAGE = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',)  # heads.report.html.page
PREDICTIONS_JSON = ('{\n  "head": ',)  # heads.predict_output._json
PREDICTIONS_CSV_HEADER = "path,sha256,features,error,label"  # heads.predict_output._top_csv
INSPECTION_JSON = ('{\n  "record": {\n    "analysis": ',)  # heads.inspection.result.Inspection.to_json


def refuse_record_path(out: str | Path, allowed_in_head: tuple[str, ...] = ()) -> None:
    """Refuse an output file that is, or lies inside, a store's records or a head folder.

    Parameters
    ----------
    out : str or Path
        The output file asked for (``-``, stdout, is always allowed).
    allowed_in_head : tuple of str
        Name patterns a command may write directly in a head folder (its own pages, e.g. ``report-*.html``).

    Raises
    ------
    HeadError
        When the path is a store's store.json, lies under its configs/ or datasets/, or lies in a head folder.
    """
    if str(out) == "-":
        return
    path = Path(out).resolve()
    if path.name == STORE_MARKER and path.exists():
        raise HeadError(f"Refusing to write over a store's record. Received: --out {out}")
    for folder in path.parents:
        if (folder / HEAD_MARKER).is_file():
            if folder == path.parent and any(fnmatch.fnmatch(path.name, p) for p in allowed_in_head):
                return
            raise HeadError(f"Refusing to write inside a head folder ({folder.name}): its files are its record. "
                            f"Received: --out {out}")
        if (folder / STORE_MARKER).is_file():
            inside = path.relative_to(folder).parts
            if inside and inside[0] in STORE_RECORD_FOLDERS:
                raise HeadError(f"Refusing to write inside a store's {inside[0]}/ folder (its records). "
                                f"Received: --out {out}")
            return


def refuse_record_folder(out: str | Path) -> None:
    """Refuse an output folder that is a store, a head folder, or lies inside a store's records or a head.

    Parameters
    ----------
    out : str or Path
        The folder asked for (a new head, an export, the folder of a page).

    Raises
    ------
    HeadError
        As `refuse_record_path` for a file inside that folder; also when the folder is a store itself.
    """
    folder = Path(out).resolve()
    if (folder / HEAD_MARKER).is_file():
        raise HeadError(f"Refusing to write into a head folder ({folder.name}): its files are its record. "
                        f"Received: --out {out}")
    refuse_record_path(folder / "output")


def is_own_output(path: Path, prefixes: tuple[str, ...] = (), header_lines: tuple[str, ...] = ()) -> bool:
    """Whether a regular file starts as this kind of output does: one of `prefixes`, or a first line among
    `header_lines` (a CSV's header). Only its first 4 KB are read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO put there never blocks
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, SNIFF_BYTES).decode("utf-8", errors="replace")
    finally:
        os.close(fd)
    first = head.split("\n", 1)[0].rstrip("\r")
    return bool(prefixes) and head.startswith(prefixes) or first in header_lines


def refuse_overwrite(out: str | Path, what: str, prefixes: tuple[str, ...] = (),
                     header_lines: tuple[str, ...] = (), force: bool = False) -> None:
    """Refuse to replace an existing file that is not this command's kind of output, unless `force`.

    Parameters
    ----------
    out : str or Path
        The file the command would write (``-``, stdout, is always allowed).
    what : str
        The kind of output, for the message (e.g. "a predictions CSV").
    prefixes, header_lines : tuple of str
        How that kind starts (see `is_own_output`).
    force : bool
        Replace whatever is there (`--force`).

    Raises
    ------
    HeadError
        When the file exists, is something else, and `force` is not given; or when it is a folder.
    """
    path = Path(out)
    if str(out) == "-" or not os.path.lexists(path):
        return
    if path.is_dir():
        raise HeadError(f"--out names a folder where a file is written. Received: --out {out}")
    if not force and not is_own_output(path, prefixes, header_lines):
        raise HeadError(f"Refusing to overwrite {path.name}: it is not {what} (give --force to replace it). "
                        f"Received: --out {out}")


def predictions_kind(fmt: str, columns: list[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(what, prefixes, header lines) of `heads predict`'s output in format `fmt` for a head's columns."""
    if fmt == "json":
        return "a predictions JSON file", PREDICTIONS_JSON, ()
    if fmt == "wide":
        return "a wide predictions CSV", (), (",".join(["id", *columns]),)
    return "a predictions CSV", (), tuple(PREDICTIONS_CSV_HEADER + suffix for suffix in _rank_columns())


def _rank_columns(most: int = 50) -> list[str]:
    """The top-k CSV header's endings for k = 1..most (any earlier --top is the same kind of file)."""
    endings, text = [], ""
    for rank in range(1, most + 1):
        text += f",class_{rank},probability_{rank}"
        endings.append(text)
    return endings
