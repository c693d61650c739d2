"""Train rows a fit leaves out: the label suspects of `heads inspect suspects`, or a list the user gives.

`heads fit --exclude-suspects` leaves out the train images cleanlab flags (heads.inspection.suspects,
with its defaults: a logreg head, 5 folds; cached in the store). `--exclude FILE` leaves out the rows a
file names: a CSV/JSON written by `heads inspect` (its `hash` column, else its `path` column) or plain
lines of paths (as the dataset indexes them) or content hashes. The head's record says which rows
were left out and why, so a refit can be traced and repeated.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from heads.errors import HeadError

MAX_LIST_BYTES = 64 * 2**20  # an exclude list larger than this is refused, not read


@dataclass
class Exclusion:
    """What to leave out of the train split: content hashes or paths, and where they came from."""

    keys: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sources)

    def record(self, paths: list[str]) -> dict:
        """The `excluded` field of head.json: why, and the paths left out."""
        return {"sources": list(self.sources), "count": len(paths), "paths": sorted(paths)}


def read_exclude_list(path: str | Path) -> set[str]:
    """The paths or content hashes a file names (see the module docstring).

    Parameters
    ----------
    path : str or Path
        A .csv/.tsv table (a `hash` or `path` column), a .json written by `heads inspect --out`, or plain lines.

    Returns
    -------
    set of str
    """
    path = Path(path)
    if not path.is_file():
        raise HeadError(f"--exclude is a file listing paths or content hashes. Received: {path}")
    if path.stat().st_size > MAX_LIST_BYTES:
        raise HeadError(f"--exclude lists at most {MAX_LIST_BYTES // 2**20} MB. Received: {path} "
                        f"({path.stat().st_size} bytes)")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            rows = json.loads(text)
            rows = rows.get("rows", []) if isinstance(rows, dict) else rows
            return {_key(row, path) for row in rows}
        if path.suffix.lower() in (".csv", ".tsv"):
            table = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            return {_key(row, path) for row in table}
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error, AttributeError, TypeError) as error:
        raise HeadError(f"--exclude cannot be read ({type(error).__name__}: {error}). Received: {path}") from None
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def _key(row, path: Path) -> str:
    if not isinstance(row, dict) or not (row.get("hash") or row.get("path")):
        raise HeadError(f"--exclude rows need a hash or a path column. Received: {path}")
    return str(row.get("hash") or row.get("path"))


def exclusion_for(store: str | Path, config: str | None, dataset: str | None, exclude: str | Path | None,
                  exclude_suspects: bool, seed: int = 0) -> Exclusion:
    """The rows `heads fit` leaves out of its train split.

    Parameters
    ----------
    store, config, dataset
        As given to heads fit (the first configuration when several are joined).
    exclude : str or Path, optional
        A list of rows (read_exclude_list).
    exclude_suspects : bool
        Leave out the train images cleanlab flags.
    seed : int
        Seed of the suspects' folds.

    Returns
    -------
    Exclusion
    """
    found = Exclusion()
    if exclude is not None:
        found.keys |= read_exclude_list(exclude)
        found.sources.append(f"listed in {exclude}")
    if exclude_suspects:
        from heads.inspection.suspects import DEFAULT_CV, DEFAULT_KIND, find_suspects

        suspects = find_suspects(store, config, dataset, seed=seed)
        table = suspects.table
        found.keys |= set(table.loc[table["issue"] & (table["split"] == "train"), "hash"])
        found.sources.append(f"label suspects flagged by cleanlab ({DEFAULT_KIND}, {DEFAULT_CV}-fold, "
                             f"{suspects.record['config_id']}, seed {seed})")
    return found
