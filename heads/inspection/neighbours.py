"""`heads inspect neighbours IMAGE`: the stored images most like a given one, with their labels and splits.

The query is a stored row (its path as the dataset indexes it, or its content hash) or any image
file: a file whose content the store holds uses its stored features; another goes once through
the configuration's backbone, rebuilt exactly as `extract run` built it (extract.Extractor), and
is reduced like the stored rows. The search is exact (one pass over the stored vectors per query).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from heads.errors import HeadError
from heads.inspection.result import Inspection, base_record
from heads.inspection.rows import InspectedRows, read_rows
from store.similarity import nearest, unit_rows
from store.vectors import reduce_features

DEFAULT_K = 8
COLUMNS = ["query", "rank", "similarity", "path", "split", "class", "hash"]


def find_neighbours(store: str | Path, images: list[str | Path], config: str | None = None,
                    dataset: str | None = None, k: int = DEFAULT_K, reduce: str | None = "auto") -> Inspection:
    """The k stored images most similar to each query image (cosine similarity of the vectors).

    Parameters
    ----------
    store : str or Path
        The feature store.
    images : list of str or Path
        Each a stored row's path (relative to the data root, as indexed), a content hash, or an image file.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store.
    k : int
        Neighbours per query (the query's own row is left out when it is stored).
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).

    Returns
    -------
    Inspection
        table: per query, its k neighbours (rank 1 = most similar) with similarity, path, split, class, hash.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise HeadError(f"-k is a number of neighbours, 1 or more. Received: -k {k!r}")
    if not images:
        raise HeadError("Give at least one image: a stored path, a content hash or an image file. Received: none")
    rows = read_rows(store, config, dataset, reduce)
    queries, own = _query_vectors(rows, [str(i) for i in images])
    frame = rows.frame
    first_row = frame.groupby("content").head(1)  # one row shown per content; copies share its vector
    by_content = first_row.set_index("content")
    found = []
    for name, vector, skip in zip(images, queries, own):
        indices, similarities = nearest(rows.unit, vector[None, :], k + (skip is not None))
        kept = [(i, s) for i, s in zip(indices[0], similarities[0]) if i != skip][:k]
        for rank, (content, similarity) in enumerate(kept, start=1):
            row = by_content.loc[int(content)]
            found.append({"query": str(name), "rank": rank, "similarity": float(similarity), "path": row["path"],
                          "split": row["split"], "class": row["class"], "hash": row["hash"]})
    table = pd.DataFrame(found, columns=COLUMNS)
    record = {**base_record("neighbours", rows), "k": k, "method": f"exact (cosine, {len(rows.distinct)} stored "
                                                                     f"contents searched per query)",
              "queries": [str(i) for i in images]}
    return Inspection(table, record, list(rows.notes))


def _query_vectors(rows: InspectedRows, images: list[str]) -> tuple[np.ndarray, list[int | None]]:
    """Unit vectors of the queries, and for each the stored content it is (None for a new image)."""
    frame = rows.frame
    content_of_path = dict(zip(frame["path"], frame["content"]))
    content_of_hash = {h: i for i, h in enumerate(rows.distinct)}
    vectors: list[np.ndarray | None] = []
    own: list[int | None] = []
    new: list[tuple[int, Path]] = []
    for position, image in enumerate(images):
        content = content_of_path.get(image, content_of_hash.get(image))
        if content is None and Path(image).is_file():
            content = content_of_hash.get(_file_hash(Path(image)))
            if content is None:
                new.append((position, Path(image)))
        elif content is None:
            raise HeadError(f"Not a stored row of dataset {rows.index.name} (path as indexed, or content hash) nor an "
                            f"image file. Received: {image}")
        own.append(None if content is None else int(content))
        vectors.append(None if content is None else rows.unit[int(content)])
    if new:
        for (position, _), vector in zip(new, _compute(rows, [path for _, path in new])):
            vectors[position] = vector
    return np.vstack(vectors), own


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise HeadError(f"Cannot read the image: {error.strerror or error}. Received: {path}") from None


def _compute(rows: InspectedRows, paths: list[Path]) -> np.ndarray:
    """New images through the configuration's backbone (rebuilt as extracted), reduced and at unit length."""
    from extract import Extractor

    try:
        extractor = Extractor.from_config(rows.view.config).build()
    except ValueError as error:
        raise HeadError(f"Cannot rebuild configuration {rows.config_id} for a new image: {error}") from None
    features, _, reasons = extractor.features_of_files([str(p) for p in paths], 32, None)
    bad = [(p, r) for p, r in zip(paths, reasons) if r]
    if bad:
        raise HeadError(f"Cannot use the image: {bad[0][1]}. Received: {bad[0][0]}")
    return unit_rows(reduce_features(np.asarray(features, np.float32), rows.reduce))
