"""The digest of a dataset index's usable rows, computed on arrays a chunk at a time.

The value is defined by the first implementation: sha256 of the lines "hash TAB class name TAB
split", one per usable row, sorted as Python sorts str, each ending in a newline. Heads and run
records keep it, so it must not change. With every hash 64 hex digits (what the scan writes),
sorting those lines is sorting by (hash, then "TAB class TAB split"); the few distinct suffixes
are ranked once and the lines are written chunk by chunk from arrays: memory stays a few bytes a
row. Any other hash (a hand-made index) takes the line-by-line definition itself.
"""
from __future__ import annotations

import hashlib

import numpy as np

CHUNK = 65536  # sorted rows written into the hash at once
_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", dtype=np.uint8)] = True


def rows_digest(index) -> str:
    """sha256 hex digest of a DatasetIndex's usable rows (see the module docstring)."""
    rows = np.flatnonzero(index.usable)
    hashes = index.hash_array[rows]
    raw = hashes.view(np.uint8).reshape(len(rows), -1) if len(rows) else np.zeros((0, 64), np.uint8)
    if raw.shape[1] != 64 or not all(_HEX[raw[i:i + CHUNK]].all() for i in range(0, len(raw), CHUNK)):
        return _line_digest(index, rows)
    values = index.splits.values
    pair = (index.labels[rows].astype(np.int64) + 1) * len(values) + index.splits.codes[rows]
    keys, key_of_row = np.unique(pair, return_inverse=True)
    suffixes = [f"\t{index.class_name(int(k) // len(values) - 1)}\t{values[int(k) % len(values)]}" for k in keys]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[sorted(range(len(keys)), key=suffixes.__getitem__)] = np.arange(len(keys))
    by_suffix = np.argsort(rank[key_of_row], kind="stable")
    order = by_suffix[np.argsort(hashes[by_suffix], kind="stable")]  # by hash, then by suffix
    encoded = [(s + "\n").encode() for s in suffixes]
    widest = max(map(len, encoded), default=0)
    table = np.zeros((len(encoded), widest), dtype=np.uint8)  # each suffix, padded to the widest
    for k, suffix in enumerate(encoded):
        table[k, :len(suffix)] = np.frombuffer(suffix, dtype=np.uint8)
    length = 64 + np.array([len(e) for e in encoded], dtype=np.int64)
    digest = hashlib.sha256()
    for start in range(0, len(order), CHUNK):  # a chunk of lines at a time: hash and suffix side by side,
        part = order[start:start + CHUNK]      # the padding dropped by one boolean mask (row-major order)
        key = key_of_row[part]
        lines = np.concatenate([raw[part], table[key]], axis=1)
        digest.update(lines[np.arange(lines.shape[1]) < length[key][:, None]].tobytes())
    return digest.hexdigest()


def _line_digest(index, rows: np.ndarray) -> str:
    """The definition itself, one str per row: for hashes that are not 64 hex digits."""
    hashes, splits = index.hashes.take(rows), index.splits.take(rows)
    lines = sorted(f"{h}\t{index.class_name(int(label))}\t{s}"
                   for h, label, s in zip(hashes, index.labels[rows].tolist(), splits))
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
