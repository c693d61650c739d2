"""Where an output file may not go: onto a store's or a head's own records.

A report or prediction file written over store.json, a configuration's or dataset's files, or a head's
record or model would lose them (the store unreadable, the head gone). Every `--out` file path is checked
here, before any work is done, so a refusal writes nothing.
"""
from __future__ import annotations

from pathlib import Path

from heads.errors import HeadError

STORE_MARKER, HEAD_MARKER = "store.json", "head.json"
STORE_RECORD_FOLDERS = ("configs", "datasets")  # everything under these is the store's own


def refuse_record_path(out: str | Path) -> None:
    """Refuse an output file that is, or lies inside, a store's records or a head folder.

    Parameters
    ----------
    out : str or Path
        The output file asked for (``-``, stdout, is always allowed).

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
            raise HeadError(f"Refusing to write inside a head folder ({folder.name}): its files are its record. "
                            f"Received: --out {out}")
        if (folder / STORE_MARKER).is_file():
            inside = path.relative_to(folder).parts
            if inside and inside[0] in STORE_RECORD_FOLDERS:
                raise HeadError(f"Refusing to write inside a store's {inside[0]}/ folder (its records). "
                                f"Received: --out {out}")
            return
