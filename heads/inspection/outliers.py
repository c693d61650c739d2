"""`heads inspect outliers`: images far from every other image (and so from every class).

The score of an image is its cosine distance to its k-th nearest other image (k = 5 by
default: a pair, or a handful, of odd images still stands out, where the nearest neighbour
alone would hide them behind each other). Images scoring above Tukey's far-out fence of the
scores (third quartile + 3 x the interquartile range) are flagged; the table ranks every image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads.errors import HeadError
from heads.inspection.result import Inspection, base_record
from heads.inspection.rows import read_rows
from store.duplicates import GRAPH_NEIGHBOURS

DEFAULT_K = 5
FENCE = 3.0  # interquartile ranges above the third quartile
COLUMNS = ["rank", "path", "split", "class", "score", "outlier", "nearest", "nearest_class", "hash"]


def find_outliers(store: str | Path, config: str | None = None, dataset: str | None = None, k: int = DEFAULT_K,
                  reduce: str | None = "auto") -> Inspection:
    """Every image ranked by its distance to its k-th nearest other image, the far-out ones flagged.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store.
    k : int
        Which neighbour's distance is the score (1 to 10).
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).

    Returns
    -------
    Inspection
        table: rank, path, split, class, score (1 - cosine similarity to the k-th neighbour), outlier
        (above the fence), nearest (the closest other image) and its class, hash; most distant first.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= GRAPH_NEIGHBOURS:
        raise HeadError(f"-k is the neighbour whose distance scores an image, 1 to {GRAPH_NEIGHBOURS}. "
                        f"Received: -k {k!r}")
    rows = read_rows(store, config, dataset, reduce)
    if len(rows.distinct) <= k:
        raise HeadError(f"Scoring by the {k}-th neighbour needs more than {k} distinct images; "
                        f"{rows.config_id} holds {len(rows.distinct)}. Received: -k {k}")
    graph = rows.graph(GRAPH_NEIGHBOURS)
    score = (1.0 - graph.similarities[:, k - 1]).astype(np.float64)
    q1, q3 = np.percentile(score, [25, 75])
    fence = float(q3 + FENCE * (q3 - q1))
    frame = rows.frame
    content = rows.content
    first_path = frame.groupby("content")["path"].first()
    first_class = frame.groupby("content")["class"].first()
    nearest = graph.indices[content, 0]
    table = frame.assign(score=score[content], outlier=score[content] > fence,
                         nearest=first_path.reindex(nearest).to_numpy(),
                         nearest_class=first_class.reindex(nearest).to_numpy())
    table = table.sort_values(["score", "path"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    record = {**base_record("outliers", rows), "k": k, "fence": fence, "fence_rule":
              f"third quartile + {FENCE:g} x interquartile range of the scores", "method": graph.method,
              "outliers": int(table["outlier"].sum())}
    return Inspection(table[COLUMNS], record, list(rows.notes))
