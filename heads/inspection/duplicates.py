"""`heads inspect duplicates`: the same image more than once, and the leaks between splits it makes.

Exact duplicates (one content hash, several files) and near duplicates (cosine similarity of a
configuration's vectors at or above a threshold: resized, re-encoded, slightly cropped copies)
are grouped by store.duplicates; this module lays the groups out as a table, one row per file.
"""
from __future__ import annotations

from pathlib import Path

from heads.errors import HeadError
from heads.inspection.result import Inspection, base_record
from heads.inspection.rows import read_rows
from store.duplicates import DEFAULT_THRESHOLD, GRAPH_NEIGHBOURS, group_duplicates, leak_line

COLUMNS = ["group", "kind", "path", "split", "class", "similarity", "leak", "hash"]


def check_threshold(threshold: float) -> float:
    """A cosine similarity in (0, 1], or a one-line refusal."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
        raise HeadError(f"--threshold is a cosine similarity in (0, 1]. Received: --threshold {threshold!r}")
    return float(threshold)


def find_duplicates(store: str | Path, config: str | None = None, dataset: str | None = None,
                    threshold: float = DEFAULT_THRESHOLD, reduce: str | None = "auto") -> Inspection:
    """Exact and near duplicates of a configuration's images, and which of them leak between splits.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store (the only one, or the newest).
    threshold : float
        Cosine similarity at or above which two images are near duplicates (default 0.95, measured
        on Dogs vs Cats: see store.duplicates).
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule; flatten, avg, max).

    Returns
    -------
    Inspection
        table: one row per file in a group (group, kind exact/near, path, split, class, similarity to
        its closest member, leak: a held-out file with a train member in its group, hash), groups in
        order of their best similarity; record: counts and method.
    """
    threshold = check_threshold(threshold)
    rows = read_rows(store, config, dataset, reduce)
    frame = rows.frame
    found = group_duplicates(rows.content, frame["split"].to_numpy(dtype=object), rows.graph(GRAPH_NEIGHBOURS),
                             threshold)
    table = frame.assign(group=found.group, kind=found.kind, similarity=found.similarity, leak=found.leaked)
    table = table[table["group"] >= 0]
    strongest = table.groupby("group")["similarity"].transform("min")
    table = (table.assign(_order=-strongest).sort_values(["_order", "group", "split", "path"], kind="stable")
             .drop(columns="_order"))
    table["group"] = table["group"].map({g: i for i, g in enumerate(dict.fromkeys(table["group"]))})
    table = table[COLUMNS].reset_index(drop=True)
    spans = table.groupby("group")["split"].nunique()
    record = {**base_record("duplicates", rows), "threshold": threshold, "method": found.method,
              "groups": int(table["group"].nunique()),
              "exact_groups": int(table.loc[table["kind"] == "exact", "group"].nunique()),
              "near_groups": int(table.loc[table["kind"] == "near", "group"].nunique()),
              "files": int(len(table)), "groups_across_splits": int((spans > 1).sum()),
              "leaks": found.leaks, "leak_groups": found.leak_groups,
              "class_conflicts": int((table.groupby("group")["class"].nunique() > 1).sum())}
    notes = list(rows.notes) + found.notes
    if record["leaks"]:
        notes.append(leak_line(found.leaks, found.leak_groups, threshold))
    return Inspection(table, record, notes)
