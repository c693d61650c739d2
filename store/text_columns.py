"""Columns of text held as NumPy arrays: a dataset index at a million rows without a Python object per cell.

A list of a million `str` costs about 80 bytes a row before its text; these hold the same values
in a few bytes a row and still read like a list of str (`len`, `[i]`, iteration, `==` with a list),
so code written against lists keeps working while the hot paths use the arrays themselves:

- `CodedText`: few distinct values (splits, reasons): an int32 code per row and the distinct values;
- `PackedText`: distinct values (paths): their UTF-8 bytes end to end and an offset per row;
- `HashText`: content hashes: one fixed-width `S64` array (the store's own key dtype).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

CHUNK = 65536  # rows decoded at once while iterating or reading from a file
HASH_DTYPE = "S64"


class TextColumn(Sequence):
    """A read-only sequence of str backed by arrays; subclasses say how a range of rows decodes."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _decode(self, positions: np.ndarray) -> list[str]:
        raise NotImplementedError

    def _subset(self, positions: np.ndarray) -> "TextColumn":
        raise NotImplementedError

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            size = len(self)
            position = int(key) + size if key < 0 else int(key)
            if not 0 <= position < size:
                raise IndexError(f"row {key} out of range for a column of {size} rows")
            return self._decode(np.array([position]))[0]
        positions = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if positions.dtype == bool:
            positions = np.flatnonzero(positions)
        return self._subset(positions.astype(np.int64, copy=False))

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), CHUNK):
            yield from self._decode(np.arange(start, min(len(self), start + CHUNK)))

    def tolist(self) -> list[str]:
        return list(self)

    def take(self, positions) -> list[str]:
        """The values at these row positions, as a list of str."""
        return self._decode(np.asarray(positions, dtype=np.int64).reshape(-1))

    def __array__(self, dtype=None, copy=None):
        return np.array(self.tolist(), dtype=object if dtype is None else dtype)

    def __eq__(self, other) -> bool:  # list semantics (one bool), not NumPy's elementwise comparison
        if not isinstance(other, (TextColumn, list, tuple)) or len(other) != len(self):
            return NotImplemented if not isinstance(other, (TextColumn, list, tuple)) else False
        mine = iter(self)
        return all(a == b for a, b in zip(mine, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = self.take(np.arange(min(3, len(self))))
        return f"{type(self).__name__}({shown!r}{', ...' if len(self) > 3 else ''}; {len(self)} rows)"


class CodedText(TextColumn):
    """Few distinct values: `codes[i]` indexes `values`."""

    def __init__(self, codes: np.ndarray, values: Sequence[str]):
        self.codes = np.asarray(codes, dtype=np.int32).reshape(-1)
        self.values = tuple(values)
        if len(self.codes) and (self.codes.min() < 0 or self.codes.max() >= len(self.values)):
            raise ValueError(f"codes must index the {len(self.values)} values")

    @classmethod
    def of(cls, values: Iterable) -> "CodedText":
        if isinstance(values, CodedText):
            return values
        table: dict = {}
        codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int32)
        return cls(codes, [v.decode() if isinstance(v, bytes) else str(v) for v in table])

    def __len__(self) -> int:
        return len(self.codes)

    def _decode(self, positions: np.ndarray) -> list[str]:
        values = self.values
        return [values[c] for c in self.codes[positions].tolist()]

    def _subset(self, positions: np.ndarray) -> "CodedText":
        return CodedText(self.codes[positions], self.values)

    def mask(self, value: str) -> np.ndarray:
        """Boolean mask of the rows holding `value`."""
        hits = [i for i, v in enumerate(self.values) if v == value]
        return np.isin(self.codes, hits) if hits else np.zeros(len(self.codes), dtype=bool)

    def present(self) -> list[str]:
        """The distinct values some row holds."""
        return [self.values[c] for c in np.unique(self.codes).tolist()]

    def __eq__(self, other) -> bool:
        if isinstance(other, CodedText) and len(other) == len(self):
            mine, theirs = np.array(self.values + ("",), dtype=object), np.array(other.values + ("",), dtype=object)
            return bool(np.array_equal(mine[self.codes], theirs[other.codes]))
        return super().__eq__(other)


class PackedText(TextColumn):
    """Distinct values: row i is `data[offsets[i]:offsets[i + 1]]`, UTF-8."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray):
        self.data = np.asarray(data, dtype=np.uint8).reshape(-1)
        self.offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if not len(self.offsets) or self.offsets[0] != 0 or self.offsets[-1] != len(self.data) \
                or np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must rise from 0 to the length of the data")

    @classmethod
    def of(cls, values: Iterable) -> "PackedText":
        if isinstance(values, PackedText):
            return values
        builder = PackedBuilder()
        builder.add([v if isinstance(v, bytes) else str(v).encode() for v in values])
        return builder.build()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _decode(self, positions: np.ndarray) -> list[str]:
        data, starts, stops = self.data, self.offsets[positions].tolist(), self.offsets[positions + 1].tolist()
        return [data[a:b].tobytes().decode() for a, b in zip(starts, stops)]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), CHUNK):  # one bytes object per chunk, sliced
            stop = min(len(self), start + CHUNK)
            base = int(self.offsets[start])
            text = self.data[base:int(self.offsets[stop])].tobytes()
            bounds = (self.offsets[start:stop + 1] - base).tolist()
            yield from (text[a:b].decode() for a, b in zip(bounds[:-1], bounds[1:]))

    def _subset(self, positions: np.ndarray) -> "PackedText":
        builder = PackedBuilder()
        for start in range(0, len(positions), CHUNK):
            part = positions[start:start + CHUNK]
            builder.add([self.data[a:b].tobytes() for a, b in zip(self.offsets[part].tolist(),
                                                                    self.offsets[part + 1].tolist())])
        return builder.build()

    def __eq__(self, other) -> bool:
        if isinstance(other, PackedText):
            return bool(np.array_equal(self.offsets, other.offsets) and np.array_equal(self.data, other.data))
        return super().__eq__(other)


class PackedBuilder:
    """Collects encoded values chunk by chunk into one PackedText (no list of every row kept)."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.lengths: list[np.ndarray] = []

    def add(self, encoded: list[bytes]) -> None:
        self.parts.append(b"".join(encoded))
        self.lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))

    def build(self) -> PackedText:
        offsets = np.zeros(sum(map(len, self.lengths)) + 1, dtype=np.int64)
        if len(offsets) > 1:
            np.cumsum(np.concatenate(self.lengths), out=offsets[1:])
        data = np.frombuffer(b"".join(self.parts), dtype=np.uint8)  # read-only, as the column is
        self.parts, self.lengths = [], []
        return PackedText(data, offsets)


class HashText(TextColumn):
    """Content hashes as one `S64` array (ASCII: a sha256 in hex, or "" for a file not read)."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array, dtype=HASH_DTYPE).reshape(-1)

    @classmethod
    def of(cls, values: Iterable) -> "HashText":
        if isinstance(values, HashText):
            return values
        if isinstance(values, np.ndarray) and values.dtype.kind == "S" and values.dtype.itemsize <= 64:
            encoded = values
        else:
            encoded = [v if isinstance(v, bytes) else str(v).encode() for v in values]
            if any(len(v) > 64 for v in encoded):
                raise ValueError("a content hash has at most 64 characters")
        array = np.asarray(encoded, dtype=HASH_DTYPE).reshape(-1)
        if len(array) and array.view(np.uint8).max(initial=0) >= 128:
            raise ValueError("a content hash is ASCII text")
        return cls(array)

    def __len__(self) -> int:
        return len(self.array)

    def _decode(self, positions: np.ndarray) -> list[str]:
        return self.array[positions].astype("U64").tolist()

    def _subset(self, positions: np.ndarray) -> "HashText":
        return HashText(self.array[positions])

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype).kind == "S":
            return self.array.astype(dtype, copy=False)
        if dtype is not None and np.dtype(dtype).kind == "U":
            return self.array.astype(dtype)
        return super().__array__(dtype, copy)

    def __eq__(self, other) -> bool:
        if isinstance(other, HashText):
            return bool(np.array_equal(self.array, other.array))
        return super().__eq__(other)


def _encoded(chunk: np.ndarray) -> list[bytes]:
    """A chunk of an HDF5 variable-length string column as UTF-8 bytes (h5py gives bytes, or str)."""
    values = chunk.tolist()
    try:
        b"".join(values)  # all bytes: the common case, checked in C
        return values
    except TypeError:
        return [v if isinstance(v, bytes) else str(v).encode() for v in values]


def read_coded(dataset) -> CodedText:
    """An HDF5 string column of few distinct values, read a chunk at a time."""
    import pandas as pd  # factorize: a hash table in C, not a dict lookup per row

    table: dict[bytes, int] = {}
    codes = np.empty(len(dataset), dtype=np.int32)
    for start in range(0, len(dataset), CHUNK):
        chunk = dataset[start:start + CHUNK]
        local, distinct = pd.factorize(chunk)
        mapping = np.array([table.setdefault(v if isinstance(v, bytes) else str(v).encode(), len(table))
                            for v in distinct], dtype=np.int32)
        codes[start:start + len(chunk)] = mapping[local] if len(mapping) else local
    return CodedText(codes, [v.decode() for v in table])  # UnicodeDecodeError: the caller says which file


def read_packed(dataset, check=None) -> PackedText:
    """An HDF5 string column of distinct values, read a chunk at a time; `check(chunk of bytes)` may refuse."""
    builder = PackedBuilder()
    for start in range(0, len(dataset), CHUNK):
        chunk = _encoded(dataset[start:start + CHUNK])
        b"".join(chunk).decode()  # UnicodeDecodeError here rather than on some later read
        if check is not None:
            check(chunk)
        builder.add(chunk)
    return builder.build()


def read_hashes(dataset) -> HashText:
    """An HDF5 `S64` hash column."""
    return HashText.of(np.asarray(dataset[:], dtype=HASH_DTYPE))
