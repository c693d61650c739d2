"""Which stored images look alike: cosine nearest neighbours of a configuration's feature vectors.

The store is a vector store too: every analysis of `heads inspect` (near duplicates, neighbours,
outliers) and `extract run`'s leak check ask it one question, the k most similar rows of every
row. The answer is exact at every size (scikit-learn's brute-force NearestNeighbors, memory bounded
by its chunking). An approximate index was measured and not taken: faiss's HNSW graph (M 32,
efConstruction 40) on 2 cores, 1280 values per row, took 9.5 s for 20,000 rows where the exact search
took 8.8 s, and 801 s for 100,000 rows (recall@10 0.88) where faiss's exact search took 807 s, both on
the shared, loaded machine (bench/README.md, "Inspecting the data").
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors

from store import derived
from store.vectors import read_vectors

@dataclass
class NeighbourGraph:
    """The k most similar other rows of every row, most similar first.

    indices (n, k) int64 (-1 where fewer than k others exist), similarities (n, k) float32 cosine,
    `method` one line saying how they were found."""

    indices: np.ndarray
    similarities: np.ndarray
    method: str
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return self.indices.shape[1]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32; an all-zero row stays zero): cosine = dot product.

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        One feature vector per row.

    Returns
    -------
    ndarray of shape (n, d), float32
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def neighbour_graph(unit: np.ndarray, k: int) -> NeighbourGraph:
    """The k nearest other rows of every row of `unit` (unit vectors, see unit_rows).

    Parameters
    ----------
    unit : ndarray of shape (n, d)
        Unit-length vectors, one per distinct image.
    k : int
        Neighbours per row (fewer when the rows are fewer).

    Returns
    -------
    NeighbourGraph
    """
    started = time.perf_counter()
    n = len(unit)
    k_found = max(0, min(int(k), n - 1))
    if k_found == 0:
        graph = NeighbourGraph(np.full((n, int(k)), -1, np.int64), np.zeros((n, int(k)), np.float32), "exact")
    else:
        model = NearestNeighbors(n_neighbors=k_found, metric="cosine", algorithm="brute").fit(unit)
        distances, indices = model.kneighbors()  # without a query, a row is not its own neighbour
        graph = NeighbourGraph(indices.astype(np.int64), (1.0 - distances).astype(np.float32),
                               f"exact (scikit-learn brute-force cosine, {n} rows)")
    graph.indices, graph.similarities = _pad(graph.indices, graph.similarities, int(k))
    graph.seconds = time.perf_counter() - started
    return graph


def cached_graph(view, hashes: list[str], k: int, mode: str, notes: list[str] | None = None,
                 unit: np.ndarray | None = None) -> NeighbourGraph:
    """neighbour_graph of a configuration's images, kept in the store (store.derived) for next time.

    The key is the set of contents, the reduction and k: labels, splits and file names do not change
    what looks alike, so a relabelled dataset, `extract run`'s check and `heads inspect` share one graph.

    Parameters
    ----------
    view : store.ConfigView
        The configuration the vectors were read from.
    hashes : list of str
        The distinct content hashes, sorted; row i of `unit` is hashes[i].
    k : int
        Neighbours per row.
    mode : str
        The reduction that makes vectors of the stored rows (store.vectors).
    notes : list of str, optional
        Gets one line when a cached graph was damaged (and recomputed).
    unit : ndarray of shape (len(hashes), d), optional
        Their unit vectors when the caller has them; read from the store only on a cache miss.

    Returns
    -------
    NeighbourGraph
    """
    contents = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    key = {"analysis": "neighbours", "contents": contents, "rows": len(hashes), "k": int(k), "reduce": mode}
    found = derived.load(view.layout, view.config.config_id, "neighbours", key)
    if found.damaged and notes is not None:
        notes.append(found.damaged)
    arrays = found.arrays
    if arrays is not None and arrays.get("indices", np.empty(0)).shape == (len(hashes), int(k)):
        return NeighbourGraph(arrays["indices"].astype(np.int64), arrays["similarities"].astype(np.float32),
                              f"exact ({len(hashes)} rows), cached")
    if unit is None:
        unit = unit_rows(read_vectors(view, hashes, mode))
    graph = neighbour_graph(unit, k)
    arrays = {"indices": graph.indices, "similarities": graph.similarities}
    try:
        derived.save(view.layout, view.config.config_id, "neighbours", key, arrays)
    except OSError as error:  # a read-only store still answers
        if notes is not None:
            notes.append(f"could not cache the neighbours in the store ({error.strerror or error})")
    return graph


def _pad(indices: np.ndarray, similarities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    missing = k - indices.shape[1]
    if missing <= 0:
        return indices, similarities
    n = len(indices)
    return (np.hstack([indices, np.full((n, missing), -1, np.int64)]),
            np.hstack([similarities, np.full((n, missing), -np.inf, np.float32)]))


def nearest(unit: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of `unit` most similar to each query (exact: a few queries cost one pass over the rows).

    Parameters
    ----------
    unit : ndarray of shape (n, d)
        Unit vectors to search.
    queries : ndarray of shape (q, d)
        Unit vectors to search for.
    k : int
        How many rows per query.

    Returns
    -------
    (indices, similarities) : two ndarrays of shape (q, min(k, n)), most similar first
    """
    k = min(int(k), len(unit))
    scores = np.asarray(queries, np.float32) @ np.asarray(unit, np.float32).T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < len(unit) else np.tile(np.arange(len(unit)),
                                                                                          (len(scores), 1))
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return top.astype(np.int64), np.take_along_axis(scores, top, axis=1).astype(np.float32)


def pairs_above(graph: NeighbourGraph, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, similarity) of the neighbour pairs at or above `threshold`, each pair once (i < j).

    Parameters
    ----------
    graph : NeighbourGraph
    threshold : float
        Cosine similarity in [-1, 1].

    Returns
    -------
    (i, j, similarity) : three aligned ndarrays, most similar pair first
    """
    rows, cols = np.nonzero((graph.similarities >= threshold) & (graph.indices >= 0))
    i, j = rows.astype(np.int64), graph.indices[rows, cols]
    sims = graph.similarities[rows, cols]
    low, high = np.minimum(i, j), np.maximum(i, j)
    keys, first = np.unique(low * max(len(graph.indices), 1) + high, return_index=True)
    low, high, sims = low[first], high[first], sims[first]
    order = np.argsort(-sims, kind="stable")
    return low[order], high[order], sims[order]


def groups_of(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A group number per row: rows linked by pairs (directly or through others) share one.

    Parameters
    ----------
    n : int
        Number of rows.
    i, j : ndarray of int
        The linked pairs.

    Returns
    -------
    ndarray of shape (n,), int64
    """
    graph = coo_matrix((np.ones(len(i), np.int8), (np.asarray(i), np.asarray(j))), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)
