"""Which content hash lives in which committed shard row (and which are known bad)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from store import atomic, catalog_index, shards
from store.integrity import DamagedShard, check_shard, has_checksums, read_error


class ShardCatalog:
    """The keys of a configuration's committed shards. `rows` (hash -> (shard, row), first committed
    copy first) is built on first use: a rerun asks `known` of all its hashes at once and never
    builds one Python object per stored image."""

    def __init__(self, shard_paths: list[Path] | None = None, rows: dict[str, tuple[int, int]] | None = None,
                 rejected: dict[str, str] | None = None, bytes: int = 0):
        self.shard_paths = shard_paths if shard_paths is not None else []
        self.rejected = rejected if rejected is not None else {}
        self.bytes = bytes
        self._rows = rows
        self._columns: catalog_index.CatalogColumns | None = None
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.damaged: list[tuple[Path, str]] = []  # shards left out by load(drop_damaged=True): (path, one line)

    @classmethod
    def load(cls, shards_dir: Path, update_index: bool = False, deep: bool = False,
             drop_damaged: bool = False) -> "ShardCatalog":
        """The committed shards' keys, from the configuration's catalog index (store.catalog_index):
        no shard file is opened when the index covers them all. `update_index`: a writer (holding the
        configuration's writer lock) writes a refreshed index back. `deep`: every shard checked against
        its marker's sha256 where nothing cheaper vouches for it (`_vouched`); a damaged shard is refused
        in one line, or with `drop_damaged` left out of the catalog and listed in `damaged`."""
        columns = catalog_index.load_columns(Path(shards_dir), update_index)
        damaged: list[tuple[Path, str]] = []
        if deep or drop_damaged:
            checked_before = columns.checked.copy()
            columns, damaged = _without_damaged(Path(shards_dir), columns, deep, drop_damaged)
            if update_index and (damaged or not np.array_equal(checked_before, columns.checked)):
                catalog_index.write_index(Path(shards_dir), columns)  # what was hashed need not be again
        catalog = cls(shard_paths=[Path(shards_dir) / name for name in columns.names], bytes=int(columns.sizes.sum()))
        catalog._columns = columns
        catalog.damaged = damaged
        for key, reason in zip(columns.rejected.tolist(), columns.reasons):
            catalog.rejected.setdefault(key.decode(), reason)
        return catalog

    @property
    def rows(self) -> dict[str, tuple[int, int]]:
        if self._rows is None:
            self._rows = {}
            if self._columns is not None and len(self._columns.hashes):
                columns = self._columns
                # First committed copy wins: two writers may both have extracted an image.
                _, first = np.unique(columns.hashes, return_index=True)
                first.sort()
                keys = columns.hashes[first].astype("U64").tolist()
                self._rows = dict(zip(keys, zip(columns.shard[first].tolist(), columns.row[first].tolist())))
        return self._rows

    def known(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of these content hashes (an `S64` array) have features or a verdict."""
        hashes = np.asarray(hashes, dtype="S64")
        if self._rows is None and self._columns is not None:
            held = np.concatenate([self._columns.hashes, self._columns.rejected])
        else:
            held = np.array(list(self.rows) + list(self.rejected), dtype="S64")
        if not len(held) or not len(hashes):
            return np.zeros(len(hashes), dtype=bool)
        held.sort()  # a sorted copy and one search: less memory than np.isin's joined sort at a million rows
        at = np.searchsorted(held, hashes).clip(0, len(held) - 1)
        return held[at] == hashes

    def __contains__(self, content_hash: str) -> bool:
        return content_hash in self.rows or content_hash in self.rejected

    def _sorted_keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes sorted, their shard, their row), each hash once (its first committed copy): the arrays
        `find` searches. About 80 bytes a row, against about 300 for the `rows` dict of Python objects."""
        if self._sorted is None:
            if self._rows is None and self._columns is not None:
                hashes, shard, row = self._columns.hashes, self._columns.shard, self._columns.row
            else:
                located = np.array(list(self.rows.values()), dtype=np.int64).reshape(-1, 2)
                hashes, shard, row = np.array(list(self.rows), dtype="S64"), located[:, 0], located[:, 1]
            order = np.argsort(hashes, kind="stable")  # equal hashes stay in commit order: the first wins
            ordered = hashes[order]
            first = np.ones(len(order), dtype=bool)
            first[1:] = ordered[1:] != ordered[:-1]
            if not first.all():  # copies only when some content was committed twice
                order, ordered = order[first], ordered[first]
            self._sorted = (ordered, shard[order], row[order])
        return self._sorted

    def find(self, hashes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each content hash (str or bytes, any sequence): whether it has features, its shard index
        and row (0 where it has none), by one sorted search, no Python object per stored row."""
        wanted = np.asarray(hashes, dtype="S64") if len(hashes) else np.zeros(0, dtype="S64")
        keys, shard, row = self._sorted_keys()
        if not len(keys):
            zero = np.zeros(len(wanted), dtype=np.int64)
            return np.zeros(len(wanted), dtype=bool), zero, zero
        at = np.searchsorted(keys, wanted).clip(0, len(keys) - 1)
        found = keys[at] == wanted
        return found, np.where(found, shard[at], 0), np.where(found, row[at], 0)

    @property
    def feature_count(self) -> int:
        """How many distinct contents have features."""
        return len(self._sorted_keys()[0])

    def has_features(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of these content hashes (an `S64` array) have features."""
        return self.find(hashes)[0]

    def locate(self, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shard index and row of each hash; raises KeyError for a hash with no features."""
        found, shard, row = self.find(hashes)
        if not found.all():
            missing = [h for h, ok in zip(hashes, found) if not ok]
            raise KeyError(f"{len(missing)} images have no features in the store, e.g. {missing[0]}")
        return shard, row


def _vouched(columns: catalog_index.CatalogColumns, position: int) -> bool:
    """Whether a shard needs no reading on a rerun: it carries Fletcher-32 (HDF5 refuses a damaged chunk
    wherever its features are read), its sha256 matched its marker once, and its file has the size its
    marker committed and the size and mtime it had then (the index was kept as it is only if so).

    A write into the file changes its mtime, so it is hashed again; damage that leaves the mtime alone
    (the medium decaying) is caught by the checksums when the rows are read, and `extract verify` finds
    it for `--repair`. A shard without Fletcher-32 is never vouched for by a past check: nothing would
    catch its later damage, so it is hashed once in every process that relies on it."""
    wanted = catalog_index.CHECKSUMMED | catalog_index.HASHED
    return (int(columns.checked[position]) & wanted) == wanted and \
        int(columns.stamps[position][2]) == int(columns.sizes[position])


def _without_damaged(shards_dir: Path, columns: catalog_index.CatalogColumns, deep: bool,
                     drop_damaged: bool) -> tuple[catalog_index.CatalogColumns, list[tuple[Path, str]]]:
    """The index's columns without the shards that fail their check (store.integrity), and those shards;
    with `deep`, a checksummed shard hashed here is marked HASHED in the columns."""
    damaged: list[tuple[Path, str]] = []
    for position, name in enumerate(columns.names):
        path = shards_dir / name
        if deep and _vouched(columns, position):
            continue
        try:
            check_shard(path, _marker(path), deep=deep)
            if deep and has_checksums(path):  # known by now (check_shard opened it); an old index may not say
                columns.checked[position] = catalog_index.CHECKSUMMED | catalog_index.HASHED
        except DamagedShard as error:
            if not drop_damaged:
                raise
            damaged.append((path, str(error)))
        except OSError as error:
            if not drop_damaged:
                raise read_error(path, error) from None
            damaged.append((path, str(read_error(path, error))))
    if not damaged:
        return columns, []
    gone = {path.name for path, _ in damaged}
    keep = np.array([name not in gone for name in columns.names], dtype=bool)
    renumber = np.cumsum(keep) - 1  # old shard index -> new one (where kept)
    rows_kept, verdicts_kept = keep[columns.shard], keep[columns.rejected_shard]
    return dataclasses.replace(
        columns, names=[n for n, k in zip(columns.names, keep) if k], sizes=columns.sizes[keep],
        stamps=columns.stamps[keep], hashes=columns.hashes[rows_kept], shard=renumber[columns.shard[rows_kept]],
        row=columns.row[rows_kept], rejected=columns.rejected[verdicts_kept],
        rejected_shard=renumber[columns.rejected_shard[verdicts_kept]],
        reasons=[r for r, k in zip(columns.reasons, verdicts_kept) if k], checked=columns.checked[keep]), damaged


def _marker(path: Path) -> dict:
    """A shard's commit marker ({} when unreadable: its size then differs, so the shard is damaged)."""
    try:
        marker = atomic.read_json(path.with_name(path.name.replace(".h5", shards.MARKER_SUFFIX)))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}
