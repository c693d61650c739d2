"""Issue 20, cost: a rerun hashes only the shards nothing cheaper vouches for.

A checksummed shard (Fletcher-32) whose sha256 matched once and whose file is unchanged since is not
read again by `extract run`; a shard written into is hashed again and dropped when damaged; an older
shard without checksums is hashed in every process; damage that leaves the file's mtime alone is
refused where the rows are read, and `extract verify --repair` then a rerun restore it.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from extract.api import run_extraction
from store import integrity
from store.errors import StoreError
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN
from tests.test_trust_store import flip_feature_bytes, read_all, rewrite_without_checksums, shard_files

RUN = dataclasses.replace(TINY_RUN, shard_size=6)


@pytest.fixture
def hashed(monkeypatch):
    """The shard files whose sha256 the code computes, as a new process would (caches emptied)."""
    seen: list[str] = []
    real = integrity.file_sha256

    def counting(path):
        seen.append(os.path.basename(path))
        return real(path)
    monkeypatch.setattr(integrity, "file_sha256", counting)

    def fresh_process():
        integrity._VERIFIED.clear()
        integrity._OWN.clear()
        seen.clear()
        return seen
    return fresh_process


def test_a_rerun_hashes_each_checksummed_shard_once_then_never(dataset, tmp_path, hashed):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    names = sorted(p.name for p in shard_files(store))
    seen = hashed()
    assert run_extraction(dataset, store, TINY, RUN).extracted == 0
    assert sorted(seen) == names  # the first rerun hashes what the writer's run committed
    seen = hashed()
    assert run_extraction(dataset, store, TINY, RUN).extracted == 0
    assert seen == []  # then vouched for by Fletcher-32 and an unchanged file


def test_a_shard_written_into_is_hashed_again_and_dropped(dataset, tmp_path, hashed):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    run_extraction(dataset, store, TINY, RUN)
    victim = shard_files(store)[0]
    flip_feature_bytes(victim)  # changes the file's mtime
    seen = hashed()
    again = run_extraction(dataset, store, TINY, RUN)
    assert seen == [victim.name] and again.extracted == 6 and not victim.exists()


def test_older_shards_are_hashed_in_every_process(dataset, tmp_path, hashed):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    older = shard_files(store)[0]
    rewrite_without_checksums(older)
    for _ in range(2):
        seen = hashed()
        assert run_extraction(dataset, store, TINY, RUN).extracted == 0
        assert older.name in seen


def test_damage_that_keeps_the_mtime_is_refused_when_read_then_repaired(dataset, tmp_path, hashed):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    before = read_all(store)
    run_extraction(dataset, store, TINY, RUN)  # every shard hashed once: vouched for from now on
    victim = shard_files(store)[0]
    stat = victim.stat()
    flip_feature_bytes(victim)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as a decaying medium would: mtime unchanged
    hashed()
    assert run_extraction(dataset, store, TINY, RUN).extracted == 0  # not read: nothing to see yet
    with pytest.raises(StoreError, match=f"{victim.name}.*damaged.*extract verify --repair`, then `extract run"):
        read_all(store)
    assert not verify_store(store).ok
    verify_store(store, repair=True)
    assert run_extraction(dataset, store, TINY, RUN).extracted == 6
    np.testing.assert_allclose(read_all(store), before, rtol=1e-5, atol=1e-6)


def test_a_version_1_catalog_index_is_read_then_upgraded(dataset, tmp_path, hashed):
    import h5py

    from store import catalog_index

    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    index = next(store.glob("configs/*/catalog.h5"))
    with h5py.File(index, "r+") as f:  # as written before the `checked` column
        del f["checked"]
        f.attrs["version"] = 1
    shards_dir = index.parent / "shards"
    assert catalog_index._read_index(index).names == catalog_index.listed_shards(shards_dir)  # used, not rebuilt
    hashed()
    assert run_extraction(dataset, store, TINY, RUN).extracted == 0
    seen = hashed()
    assert run_extraction(dataset, store, TINY, RUN).extracted == 0 and seen == []
