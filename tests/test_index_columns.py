"""A dataset index held as arrays: the same digest as the list-based index it replaced, the same rows back."""
import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from store import StoreError, init_store
from store.datasets import DatasetIndex, index_paths, read_dataset, write_dataset
from store.index_check import edited_reason
from store.text_columns import CodedText, HashText, PackedText

FIXTURE = Path(__file__).parent / "fixtures" / "index-main-6ef9202.h5"
# What main's list-based DatasetIndex (commit 6ef9202) computed for the fixture it wrote.
FIXTURE_DIGEST = "8b7b35a3507aa415482a8c7c0d4c880155252162d88c6610105d9cecde685fd9"


def list_digest(classes, labels, splits, hashes, reasons) -> str:
    """The definition as main wrote it: sorted str lines of the usable rows."""
    name = lambda label: classes[label] if 0 <= label < len(classes) else ""  # noqa: E731
    lines = sorted(f"{h}\t{name(int(label))}\t{s}" for h, label, s, r in zip(hashes, labels, splits, reasons)
                   if not r and h)
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def random_columns(seed: int, n: int, hex_hashes: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    classes = ["cats", "dogs", "a", "a b", "a\tb", "éclair", "Zebra", ""]
    pool = ["train", "validation", "test", "val", "train\tx", "Ω", ""]
    hashes = [hashlib.sha256(b"%d" % (i % (n // 2 + 1))).hexdigest() for i in range(n)]  # contents twice
    if not hex_hashes:
        hashes = [h[:int(k)] + ("Z" if k % 3 else "\t") for h, k in zip(hashes, rng.integers(1, 40, n))]
    reasons = ["" if keep else "unreadable" for keep in rng.random(n) > 0.15]
    return dict(name="d", data_root="/data", classes=classes, paths=[f"c/{i}.jpg" for i in range(n)],
                labels=rng.integers(-1, len(classes), n), splits=[pool[i] for i in rng.integers(0, len(pool), n)],
                hashes=hashes, reasons=reasons)


def test_an_index_written_by_the_list_based_code_reads_and_verifies_identically(tmp_path):
    index = read_dataset(FIXTURE)
    assert index.recorded_digest == FIXTURE_DIGEST
    assert index.digest() == FIXTURE_DIGEST  # the array digest gives main's value
    assert edited_reason(init_store(tmp_path / "s"), index) is None
    with h5py.File(FIXTURE, "r") as f:  # every column as main wrote it
        assert index.paths.tolist() == [p.decode() for p in f["path"][:]]
        assert index.splits.tolist() == [s.decode() for s in f["split"][:]]
        assert index.reasons.tolist() == [r.decode() for r in f["reason"][:]]
        assert index.hashes.tolist() == [h.decode() for h in f["hash"][:]]
        assert np.array_equal(index.labels, f["label"][:])
    assert list_digest(index.classes, index.labels, list(index.splits), list(index.hashes),
                       list(index.reasons)) == FIXTURE_DIGEST


@pytest.mark.parametrize("hex_hashes", [True, False])  # False: hand-made hashes take the line-by-line path
@pytest.mark.parametrize("seed", [0, 1])
def test_the_array_digest_is_the_list_digest(seed, hex_hashes):
    columns = random_columns(seed, 3000, hex_hashes)
    expected = list_digest(columns["classes"], columns["labels"], columns["splits"], columns["hashes"],
                           columns["reasons"])
    assert DatasetIndex(**columns).digest() == expected
    columns["splits"][7] = "moved"  # one changed split changes it (when the row is usable)
    columns["reasons"][7], columns["hashes"][7] = "", hashlib.sha256(b"x").hexdigest()
    assert DatasetIndex(**columns).digest() != expected


def test_written_and_read_back_the_rows_are_the_same(tmp_path):
    layout = init_store(tmp_path / "s")
    columns = random_columns(3, 500)
    columns["paths"] = [f"é/{i} ü.jpg" for i in range(500)]
    index = DatasetIndex(**columns, split_sources=columns["splits"])
    write_dataset(layout, index)
    back = read_dataset(index_paths(layout, "d")[-1])
    assert back.same_content(index) and back.digest() == index.digest() == back.recorded_digest
    assert back.paths == columns["paths"] and back.hashes == columns["hashes"] and back.splits == columns["splits"]
    assert write_dataset(layout, back) == index_paths(layout, "d")[-1]  # nothing new to write
    assert not back.same_content(DatasetIndex(**{**columns, "paths": columns["paths"][::-1]}))


def test_columns_read_like_lists():
    paths = PackedText.of(["a", "ü/b", "", "c"])
    assert (len(paths), paths[1], paths[-1], list(paths), paths[1:3].tolist()) == (4, "ü/b", "c", ["a", "ü/b", "", "c"],
                                                                                    ["ü/b", ""])
    assert paths == ["a", "ü/b", "", "c"] and paths != ["a", "ü/b", "", "d"] and paths[[3, 0]] == ["c", "a"]
    splits = CodedText.of(["train", "validation", "train"])
    assert splits.mask("train").tolist() == [True, False, True] and splits.present() == ["train", "validation"]
    assert np.asarray(splits, dtype=object).tolist() == ["train", "validation", "train"]
    hashes = HashText.of(["ab", ""])
    assert hashes.array.dtype == np.dtype("S64") and hashes.take([1, 0]) == ["", "ab"]
    with pytest.raises(IndexError):
        paths[4]


def test_a_column_that_is_not_text_is_one_line(tmp_path):
    layout = init_store(tmp_path / "s")
    write_dataset(layout, DatasetIndex(**random_columns(4, 10)))
    path = index_paths(layout, "d")[-1]
    with h5py.File(path, "a") as f:
        del f["path"]
        f.create_dataset("path", data=np.array([b"\xff\xfe"] * 10, dtype=object), dtype=h5py.special_dtype(vlen=bytes))
    with pytest.raises(StoreError, match=f"{path.name} holds a column that is not text"):
        read_dataset(path)
    with pytest.raises(StoreError, match="a content hash has at most 64 characters"):
        DatasetIndex(**{**random_columns(4, 10), "hashes": ["x" * 65] * 10})
