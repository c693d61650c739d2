"""An analysis's answer: a table (one row per image), the record of how it was computed, and notes.

The table is a pandas DataFrame a notebook uses as it is; the CLI writes it as CSV or JSON
(by the file's suffix) and prints a summary. The record says what the table was computed from
(store, dataset and its digest, configuration, how spatial features were reduced) and how
(method, parameters, counts), so a CSV read a month later can be traced and checked.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from heads.errors import HeadError
from heads.outputs import INSPECTION_JSON, refuse_overwrite, refuse_record_path
from heads.record import jsonable
from store import write_bytes

TABLE_FORMATS = ("csv", "json")


@dataclass
class Inspection:
    """One analysis of `heads inspect`: `table` (DataFrame), `record` (dict, JSON-able), `notes` (lines)."""

    table: pd.DataFrame
    record: dict
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The record, the notes and the table's rows as plain JSON."""
        rows = json.loads(self.table.to_json(orient="records"))
        return {"record": jsonable(self.record), "notes": list(self.notes), "rows": rows}

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write the table: .csv (the table alone) or .json (record, notes and rows); staged.

        Parameters
        ----------
        path : str or Path
            The file to write; its suffix chooses the format. Never inside a store's or a head's records.
        force : bool
            Replace an existing file that is not a table of `heads inspect` (heads.outputs).

        Returns
        -------
        Path
        """
        path = Path(path)
        refuse_record_path(path)
        kind = path.suffix.lower().lstrip(".")
        if kind not in TABLE_FORMATS:
            raise HeadError(f"--out is a .csv or .json file. Received: {path}")
        if path.is_dir():
            raise HeadError(f"--out is a file to write, not a folder. Received: {path}")
        header = self.table.head(0).to_csv(index=False).splitlines()[:1]
        refuse_overwrite(path, "a table of heads inspect", INSPECTION_JSON if kind == "json" else (),
                         tuple(header) if kind == "csv" else (), force=force)
        data = self.table.to_csv(index=False) if kind == "csv" else json.dumps(self.to_json(), indent=2)
        return write_bytes(path, data.encode("utf-8"))


def base_record(analysis: str, rows) -> dict:
    """The fields every analysis records: where its data came from and how it was read."""
    return {"analysis": analysis, "store": str(rows.view.layout.root), "dataset": rows.index.name,
            "digest": rows.index.digest(), "config_id": rows.config_id, "reduce": rows.reduce,
            "reduced": rows.reduce_note, "rows": len(rows.frame), "contents": len(rows.distinct)}
