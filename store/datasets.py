"""Named datasets: which file is which class in which split, keyed by content hash.

A dataset index describes the data, not a run: it lives at store level
(`datasets/<name>/index-<utc>.h5`) and every configuration's features are joined with it by
content hash, so labels never depend on the order features were written and one store holds
several datasets (a training set, a separate test folder...). All names are kept, and the
5 newest indexes of each name.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from store import atomic
from store.errors import StoreError
from store.index_digest import rows_digest as _rows_digest
from store.integrity import open_own
from store.layout import StoreLayout
from store.paths import PathEscapeError, check_relative, confine
from store.text_columns import (CHUNK, CodedText, HashText, PackedText, read_coded, read_hashes,
                                read_packed)

STRINGS = h5py.string_dtype(encoding="utf-8")
HASH_DTYPE = "S64"
KEEP_INDEXES = 5
INDEX_GLOB = "index-*.h5"
# The images `heads predict` computed features for, indexed unlabelled so that the next call only reads them:
# listed with the others, never chosen when no dataset is named.
PREDICTED_DATASET = "heads-predict"
_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\.][^\x00-\x1f\x7f/\\]{0,127}$")


def check_dataset_name(name: str) -> str:
    """A dataset name is a folder name of the store: one safe path component.

    Parameters
    ----------
    name : str
        The name to check.

    Returns
    -------
    str
        `name`, unchanged.

    Raises
    ------
    StoreError
        When it is not one safe folder name.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith((" ", ".")):
        raise StoreError("A dataset name is one folder name: 1 to 128 characters without / \\ or control "
                         f"characters, not starting with a dot nor ending with a space or a dot. Received: {name!r}")
    return name


def default_dataset_name(data: str | Path) -> str:
    """The name a dataset gets when none is given: its data folder's name.

    Parameters
    ----------
    data : str or Path
        The data folder.

    Returns
    -------
    str
        Its folder name (checked by `check_dataset_name`).
    """
    return check_dataset_name(Path(data).resolve().name)


def legacy_dataset_name(data_root: str) -> str:
    """The name a version-1 record (no names then) is read under: its data root's folder name,
    with what a name may not hold replaced by `_`."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", Path(data_root).name).strip(" .")[:128]
    return name or "dataset"


@dataclass
class DatasetIndex:
    """One row per file the scan found (unusable ones included, with a reason). Treat as read-only.

    The text columns are held as arrays (store.text_columns: a few bytes a row plus the paths'
    text, not a Python object per cell) and read like lists of str; lists given are converted.

    Parameters
    ----------
    name : str
        The dataset's name in the store.
    data_root : str
        The folder the files were scanned from; `paths` are relative to it.
    classes : list of str
        Class names; `labels` index them.
    paths : sequence of str
        Each row's file, relative to `data_root` (held as a `PackedText`).
    labels : ndarray of int32
        Each row's class (index into `classes`); -1 for an unlabelled row.
    splits : sequence of str
        Each row's split (train, validation, test...; held as a `CodedText`).
    hashes : sequence of str
        Each row's content hash (sha256): the key of its features (held as a `HashText`).
    reasons : sequence of str
        Why a row cannot be used ("" for a usable one; held as a `CodedText`).
    split_sources : sequence of str, optional
        Where each row's split came from ("" everywhere when not recorded).
    source : dict, optional
        How the folder was read (layout, label source...).
    stats : dict, optional
        What the scan counted.
    created : str, optional
        When the index was written (ISO time).
    recorded_digest : str, optional
        The digest written with the index file (None for an older file): compared with its rows.
    """

    name: str
    data_root: str
    classes: list[str]
    paths: PackedText
    labels: np.ndarray  # int32 index into classes; -1 = unlabelled
    splits: CodedText
    hashes: HashText
    reasons: CodedText
    split_sources: CodedText = field(default_factory=list)  # "" everywhere when not given
    source: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    created: str = ""
    recorded_digest: str | None = field(default=None, compare=False)  # the digest written with the file, if any
    _arrays: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        try:
            self.paths, self.hashes = PackedText.of(self.paths), HashText.of(self.hashes)
        except ValueError as error:
            raise StoreError(f"Dataset index {self.name!r}: {error}.") from None
        self.splits, self.reasons = CodedText.of(self.splits), CodedText.of(self.reasons)
        self.split_sources = CodedText.of(self.split_sources) if len(self.split_sources) else \
            CodedText(np.zeros(len(self.paths), dtype=np.int32), [""])
        sizes = {len(self.paths), len(self.labels), len(self.splits), len(self.hashes), len(self.reasons),
                 len(self.split_sources)}
        if len(sizes) != 1:
            raise StoreError(f"Dataset index columns differ in length. Received: paths {len(self.paths)}, labels "
                             f"{len(self.labels)}, splits {len(self.splits)}, hashes {len(self.hashes)}, "
                             f"reasons {len(self.reasons)}, split sources {len(self.split_sources)}")
        if len(self.labels) and (self.labels.min() < -1 or self.labels.max() >= len(self.classes)):
            raise StoreError(f"Dataset index labels must lie in -1..{len(self.classes) - 1}. "
                             f"Received: {self.labels.min()}..{self.labels.max()}")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def usable(self) -> np.ndarray:
        """Boolean mask of the rows whose file could be read (they may still be unlabelled)."""
        if "usable" not in self._arrays:
            self._arrays["usable"] = self.reasons.mask("") & (self.hashes.array != b"")
        return self._arrays["usable"]

    @property
    def hash_array(self) -> np.ndarray:
        """The content hashes as one `S64` array (no copy)."""
        return self.hashes.array

    def split_names(self) -> list[str]:
        return sorted(set(self.splits.present()))

    def rows(self, split: str) -> np.ndarray:
        """Row positions of the usable rows of a split, in index order."""
        if split not in self.split_names():
            raise StoreError(f"No split {split!r} in dataset {self.name!r}. Known: {', '.join(self.split_names())}")
        return np.flatnonzero(self.splits.mask(split) & self.usable).astype(np.int64)

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else ""

    def digest(self) -> str:
        """sha256 of the usable rows as sorted "hash, class name, split" lines: a head compares it to
        tell whether the data under it changed (a renamed or reordered file changes nothing). Computed
        once per index object (an index is not changed in place: dataclasses.replace makes a new one)."""
        if "digest" not in self._arrays:
            self._arrays["digest"] = _rows_digest(self)
        return self._arrays["digest"]

    def absolute(self, row: int) -> Path:
        """The file of a row, confined to the data root (a symlink out of it is refused)."""
        return confine(self.data_root, self.paths[row], f"path of row {row} of dataset {self.name!r}")

    def same_content(self, other: "DatasetIndex") -> bool:
        """Same rows, classes, root and source: writing `other` again would add nothing."""
        return (self.name, self.data_root, self.classes, self.source) == \
            (other.name, other.data_root, other.classes, other.source) and len(self) == len(other) \
            and np.array_equal(self.labels, other.labels) and self.hashes == other.hashes \
            and self.splits == other.splits and self.reasons == other.reasons \
            and self.split_sources == other.split_sources and self.paths == other.paths


def index_paths(layout: StoreLayout, name: str) -> list[Path]:
    """A dataset's index files, oldest first."""
    folder = layout.dataset_dir(check_dataset_name(name))
    return sorted(folder.glob(INDEX_GLOB)) if folder.is_dir() else []


def dataset_names(layout: StoreLayout) -> list[str]:
    if not layout.datasets_dir.is_dir():
        return []
    return sorted(p.name for p in layout.datasets_dir.iterdir()
                  if p.is_dir() and _NAME.match(p.name) and any(p.glob(INDEX_GLOB)))


def write_dataset(layout: StoreLayout, index: DatasetIndex) -> Path:
    """Publish an index (staged); one identical to the newest of its name is not written again.
    Keeps the 5 newest indexes of that name."""
    existing = index_paths(layout, index.name)
    if existing:
        try:
            if read_dataset(existing[-1]).same_content(index):
                return existing[-1]
        except (OSError, KeyError, ValueError):
            pass  # an unreadable newest index: the new one supersedes it
    created = dt.datetime.now(dt.timezone.utc)
    final = layout.dataset_dir(index.name) / f"index-{created.strftime('%Y%m%dT%H%M%S%f')}Z.h5"
    while final.exists():  # two writers within one microsecond
        created += dt.timedelta(microseconds=1)
        final = final.with_name(f"index-{created.strftime('%Y%m%dT%H%M%S%f')}Z.h5")
    index.created = created.isoformat()
    with atomic.staged_file(final) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"name": index.name, "data_root": index.data_root, "created": index.created,
                        "classes": json.dumps(index.classes), "source": json.dumps(index.source, sort_keys=True),
                        "stats": json.dumps(index.stats, sort_keys=True), "digest": index.digest()})
        write_columns(f, index)
    for old in index_paths(layout, index.name)[:-KEEP_INDEXES]:
        old.unlink(missing_ok=True)
    return final


def write_columns(f: h5py.File, index: DatasetIndex) -> None:
    """The row columns, shared with slice partial indexes."""
    for name, column in (("path", index.paths), ("split", index.splits), ("split_source", index.split_sources),
                         ("reason", index.reasons)):
        written = f.create_dataset(name, shape=(len(column),), dtype=STRINGS)
        for start in range(0, len(column), CHUNK):  # a chunk of str at a time, not the whole column
            written[start:start + CHUNK] = column.take(np.arange(start, min(len(column), start + CHUNK)))
    f.create_dataset("label", data=np.asarray(index.labels, dtype="int32"))
    f.create_dataset("hash", data=index.hashes.array)


_SUSPECT_START = {ord("/"), ord("~"), ord("\\")}


def _check_paths(origin: Path):
    def check(chunk: list[bytes]) -> None:
        joined = b"".join(chunk)
        if chunk and min(map(len, chunk)) and b".." not in joined and b":" not in joined \
                and not {rel[0] for rel in chunk} & _SUSPECT_START:
            return  # nothing any row could be refused for: no row looked at one by one
        for rel in chunk:
            if not rel or rel.startswith((b"/", b"~", b"\\")) or b".." in rel or b":" in rel:
                try:
                    check_relative(rel.decode())
                except PathEscapeError:
                    raise StoreError(f"{origin.name} holds a path outside its data root. "
                                     f"Received: {rel.decode()!r}") from None
    return check


def read_columns(f: h5py.File, origin: Path, **attrs) -> DatasetIndex:
    """Rows of an index-like file (dataset index, partial, v1 run index); paths checked to stay
    inside the data root (lexically: a data folder may link its class folders elsewhere). Read a
    chunk at a time into arrays (store.text_columns)."""
    try:
        paths = read_packed(f["path"], _check_paths(origin))
        columns = {key: read_coded(f[column]) for key, column in
                   (("splits", "split"), ("reasons", "reason"), ("split_sources", "split_source")) if column in f}
        hashes = read_hashes(f["hash"])
    except (UnicodeDecodeError, ValueError) as error:
        raise StoreError(f"{origin.name} holds a column that is not text ({error}).") from None
    return DatasetIndex(data_root=str(f.attrs["data_root"]), classes=json.loads(f.attrs["classes"]), paths=paths,
                        labels=f["label"][:], hashes=hashes, created=str(f.attrs.get("created", "")),
                        **columns, **attrs)


def read_dataset(path: Path) -> DatasetIndex:
    with open_own(path) as f:
        recorded = f.attrs.get("digest")  # absent from indexes written before it was recorded
        return read_columns(f, Path(path), name=str(f.attrs["name"]), source=json.loads(f.attrs["source"]),
                            stats=json.loads(f.attrs["stats"]),
                            recorded_digest=str(recorded) if recorded is not None else None)


def latest_dataset(layout: StoreLayout, name: str) -> DatasetIndex | None:
    paths = index_paths(layout, name)
    return read_dataset(paths[-1]) if paths else None


def newest_name(layout: StoreLayout) -> str | None:
    """The dataset whose newest index is the most recent of all (what `heads predict` kept aside)."""
    newest = [(index_paths(layout, name)[-1].name, name) for name in dataset_names(layout)
              if name != PREDICTED_DATASET]
    return max(newest)[1] if newest else None
