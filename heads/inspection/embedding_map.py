"""`heads inspect map`: a 2-D map of a configuration's features, every image a point.

PCA to 50 components, then scikit-learn's t-SNE (cosine: the likeness every other analysis
uses). t-SNE is already installed with scikit-learn; UMAP (umap-learn) would add numba and
llvmlite, about 210 MB and a just-in-time compile on first use (bench/README.md). Above
MAX_POINTS distinct images a stratified sample (per split and class) is mapped, the sample
recorded, so the map stays a matter of seconds to a few minutes on 2 cores; coordinates are
cached in the store. Points are marked when a cross-validated head gets them wrong ("mistake")
and when cleanlab flags their label ("suspect"): see heads.inspection.suspects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heads.errors import HeadError
from heads.inspection.result import Inspection, base_record
from heads.inspection.rows import InspectedRows, read_rows

MAX_POINTS = 5000
PCA_COMPONENTS = 50
PERPLEXITY = 30.0
COLUMNS = ["path", "split", "class", "x", "y", "mistake", "suspect", "hash"]


def embedding_map(store: str | Path, config: str | None = None, dataset: str | None = None,
                  reduce: str | None = "auto", seed: int = 0, max_points: int = MAX_POINTS,
                  marks: bool = True) -> Inspection:
    """A 2-D t-SNE map of a configuration's images, with mistakes and label suspects marked.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store.
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).
    seed : int
        Seed of the sample, PCA and t-SNE.
    max_points : int
        Distinct images mapped at most (a stratified sample above; suspects always kept).
    marks : bool
        Mark mistakes and suspects (from heads.inspection.suspects with its defaults, cached).

    Returns
    -------
    Inspection
        table: one row per mapped file: path, split, class, x, y, mistake, suspect, hash.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 10:
        raise HeadError(f"--max-points is 10 or more. Received: --max-points {max_points!r}")
    rows = read_rows(store, config, dataset, reduce)
    frame = rows.frame.copy()
    notes: list[str] = []
    frame["mistake"], frame["suspect"] = False, False
    if marks:
        _mark(frame, store, rows, reduce, seed, notes)
    chosen = _sample(rows, frame, max_points, seed)
    if len(chosen) < len(rows.distinct):
        notes.append(f"{len(rows.distinct)} distinct images: a sample of {len(chosen)} (stratified by split and "
                     f"class, every suspect kept) is mapped.")
    key = rows.cache_key("map", method="tsne", seed=seed, perplexity=PERPLEXITY, pca=PCA_COMPONENTS,
                         sample=[int(c) for c in chosen] if len(chosen) < len(rows.distinct) else "all")
    key["rows"] = len(rows.distinct)
    cached = rows.load_cached("map", key)
    if cached is not None and cached.get("xy", np.empty(0)).shape == (len(chosen), 2):
        xy = cached["xy"]
    else:
        xy = _tsne(rows.unit[chosen], seed)
        rows.save_cached("map", key, {"xy": xy})
    position = np.full(len(rows.distinct), -1, np.int64)
    position[chosen] = np.arange(len(chosen))
    mapped = position[rows.content] >= 0
    table = frame[mapped].assign(x=xy[position[rows.content[mapped]], 0], y=xy[position[rows.content[mapped]], 1])
    record = {**base_record("map", rows), "method": f"PCA to {PCA_COMPONENTS} components, then scikit-learn t-SNE "
                                                    f"(cosine, perplexity {PERPLEXITY:g}, seed {seed})",
              "mapped": int(len(chosen)), "max_points": max_points,
              "mistakes": int(table["mistake"].sum()), "suspects": int(table["suspect"].sum())}
    return Inspection(table[COLUMNS].reset_index(drop=True), record, rows.notes + notes)


def _mark(frame, store, rows: InspectedRows, reduce, seed: int, notes: list[str]) -> None:
    from heads.inspection.suspects import find_suspects

    try:
        suspects = find_suspects(store, rows.config_id, rows.index.name, reduce=reduce, seed=seed)
    except HeadError as error:  # e.g. too few images to cross-validate: the map goes on unmarked
        notes.append(f"Mistakes and suspects not marked: {error}")
        return
    table = suspects.table
    wrong = set(table.loc[table["given"] != table["suggested"], "path"])
    flagged = set(table.loc[table["issue"], "path"])
    frame["mistake"] = frame["path"].isin(wrong)
    frame["suspect"] = frame["path"].isin(flagged)


def _sample(rows: InspectedRows, frame, max_points: int, seed: int) -> np.ndarray:
    """Distinct contents to map: all, or a sample stratified by (split, class) keeping every suspect."""
    contents = len(rows.distinct)
    if contents <= max_points:
        return np.arange(contents)
    first = frame.groupby("content").head(1)
    keep = set(first.loc[first["suspect"] | first["mistake"], "content"].tolist())
    rng = np.random.default_rng(seed)
    share = max(0.0, (max_points - len(keep)) / max(1, contents - len(keep)))
    for _, members in first.groupby(["split", "class"], dropna=False)["content"]:
        pool = np.setdiff1d(members.to_numpy(), list(keep))
        take = min(len(pool), int(share * len(pool)))  # rounded down: never above max_points
        keep.update(rng.choice(pool, size=take, replace=False).tolist())
    return np.array(sorted(keep), dtype=np.int64)


def _tsne(unit: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    n = len(unit)
    if n < 5:
        raise HeadError(f"A map needs at least 5 distinct images. Received: {n}")
    components = min(PCA_COMPONENTS, n, unit.shape[1])
    reduced = PCA(components, random_state=seed).fit_transform(unit) if unit.shape[1] > components else unit
    perplexity = min(PERPLEXITY, (n - 1) / 3)
    # One OpenMP thread: t-SNE's gradient threads spin against any other busy process on a small machine
    # (2,800 points on 2 shared cores: 143 s with two threads, 34 s with one; 252 points: 52 s and 1.6 s).
    with threadpool_limits(1, user_api="openmp"):
        xy = TSNE(2, perplexity=perplexity, init="pca", metric="cosine", random_state=seed).fit_transform(reduced)
    return xy.astype(np.float32)
