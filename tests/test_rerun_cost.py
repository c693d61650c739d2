"""A rerun costs what changed: the stat cache (store.stat_cache), the catalog index (store.catalog_index),
and slices that reuse the hashes of an earlier scan."""
import dataclasses
import io
import os
import time
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from extract.api import run_extraction
from extract.sources import reading
from store import catalog_index, shards
from store.catalog import ShardCatalog
from store.layout import StoreLayout
from store.stat_cache import FILE_NAME, read_stat_cache
from tests.conftest import TINY, TINY_RUN

OLD = time.time() - 3600  # older than the racily-clean window, as files on a real disk are


def jpeg(colour, tag: str) -> bytes:
    """A small JPEG whose comment segment makes its bytes its own (same length for tags of one length)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 24, 3), colour, np.uint8)).save(buffer, format="JPEG")
    data, text = buffer.getvalue(), tag.encode()
    return data[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[2:]


def age(path: Path) -> None:
    os.utime(path, (OLD, OLD))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for label, colour in (("cats", (200, 60, 40)), ("dogs", (40, 80, 200))):
        (root / label).mkdir(parents=True)
        for i in range(6):
            path = root / label / f"{label}.{i}.jpg"
            path.write_bytes(jpeg(colour, f"{label}-{i:03d}"))
            age(path)
    return root


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The paths the scan opens, in order."""
    seen: list[str] = []
    real = reading.read_one

    def recording(path, max_bytes):
        seen.append(Path(path).name)
        return real(path, max_bytes)

    monkeypatch.setattr(reading, "read_one", recording)
    return seen


def test_unchanged_rerun_reads_no_file(data, tmp_path, opened):
    first = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert (first.files_read, first.extracted) == (12, 12) and len(opened) == 12
    opened.clear()
    again = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert opened == [] and (again.files_read, again.files_known) == (0, 12)
    assert (again.extracted, again.cached) == (0, 12)


def test_touched_file_is_read_again_and_found_unchanged(data, tmp_path, opened):
    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    os.utime(data / "cats" / "cats.2.jpg", (OLD - 100, OLD - 100))  # same bytes, new mtime
    opened.clear()
    again = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert opened == ["cats.2.jpg"]
    assert (again.extracted, again.cached, again.changed) == (0, 12, 0)


def test_rewrite_with_same_size_and_mtime_forced_back_is_caught_by_ctime(data, tmp_path, opened):
    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    path = data / "dogs" / "dogs.1.jpg"
    before = path.stat()
    path.write_bytes(jpeg((40, 80, 200), "dogs-XYZ"))  # other bytes, the same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    opened.clear()
    again = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert opened == ["dogs.1.jpg"] and again.extracted == 1


def test_documented_limit_a_filesystem_keeping_every_stat_needs_rehash(data, tmp_path, monkeypatch):
    """The limit docs/scaling.md states: a rewrite that keeps size, mtime, inode and ctime (here a
    filesystem that does not move ctime, simulated) is not seen without --rehash."""
    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    path = data / "dogs" / "dogs.1.jpg"
    before = path.stat()
    path.write_bytes(jpeg((40, 80, 200), "dogs-XYZ"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    real = reading.regular_stat

    def ctime_kept(name, root):
        info, reason = real(name, root)
        if info is not None and Path(name).name == path.name:
            info = types.SimpleNamespace(st_size=info.st_size, st_mtime_ns=info.st_mtime_ns, st_ino=info.st_ino,
                                         st_ctime_ns=before.st_ctime_ns)
        return info, reason

    monkeypatch.setattr(reading, "regular_stat", ctime_kept)
    assert run_extraction(data, store, TINY, TINY_RUN).extracted == 0  # not seen: the stated limit
    rehashed = run_extraction(data, store, TINY, dataclasses.replace(TINY_RUN, rehash=True))
    assert (rehashed.files_read, rehashed.extracted) == (12, 1)


def test_renamed_files_are_read_but_not_extracted(data, tmp_path, opened):
    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    for i in (0, 1):
        (data / "cats" / f"cats.{i}.jpg").rename(data / "cats" / f"renamed.{i}.jpg")
    opened.clear()
    again = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert sorted(opened) == ["renamed.0.jpg", "renamed.1.jpg"]
    assert (again.extracted, again.cached) == (0, 12)


def test_fresh_files_are_not_trusted_within_the_racy_window(data, tmp_path, opened):
    store = tmp_path / "store"
    fresh = data / "cats" / "fresh.jpg"
    fresh.write_bytes(jpeg((200, 60, 40), "fresh-0001"))  # mtime now: may still change within the tick
    run_extraction(data, store, TINY, TINY_RUN)
    opened.clear()
    run_extraction(data, store, TINY, TINY_RUN)
    assert opened == ["fresh.jpg"]


def test_stat_cache_of_an_older_version_or_damaged_is_rebuilt(data, tmp_path, opened):
    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    cache = StoreLayout(store).dataset_dir("data") / FILE_NAME
    with h5py.File(cache, "r+") as f:
        f.attrs["version"] = 0  # as an older store would have written it
    opened.clear()
    again = run_extraction(data, store, TINY, TINY_RUN)
    assert len(opened) == 12 and (again.extracted, again.cached) == (0, 12)
    assert read_stat_cache(cache.parent, str(data.resolve())) is not None  # written again, current version
    cache.write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    opened.clear()
    assert run_extraction(data, store, TINY, TINY_RUN).cached == 12 and len(opened) == 12
    opened.clear()
    assert run_extraction(data, store, TINY, TINY_RUN).files_read == 0 and opened == []


def test_catalog_opens_no_shard_when_its_index_covers_them(data, tmp_path, monkeypatch):
    store = tmp_path / "store"
    summary = run_extraction(data, store, TINY, TINY_RUN)
    shards_dir = StoreLayout(store).shards_dir(summary.config.config_id)
    reference = ShardCatalog.load(shards_dir)
    assert catalog_index.index_path(shards_dir).is_file()

    def no_shard_opened(path):
        raise AssertionError(f"opened {path}")

    monkeypatch.setattr(shards, "read_keys", no_shard_opened)
    again = ShardCatalog.load(shards_dir)
    assert again.rows == reference.rows and again.rejected == reference.rejected
    assert list(again.rows) == list(reference.rows)  # the same order: shards, then rows


def test_catalog_index_catches_up_after_a_kill_between_commit_and_index(data, tmp_path):
    store = tmp_path / "store"
    summary = run_extraction(data, store, TINY, TINY_RUN)
    shards_dir = StoreLayout(store).shards_dir(summary.config.config_id)
    before = ShardCatalog.load(shards_dir)
    width = summary.config.feature_shape
    # A shard committed (file and marker) by a writer killed before it updated the index.
    added = shards.ShardContent(["f" * 64], np.ones((1, *width), np.float16), ["e" * 64], ["broken"])
    shards.write_shard(shards_dir, summary.config.config_id, added)
    after = ShardCatalog.load(shards_dir)
    assert set(after.rows) == set(before.rows) | {"f" * 64} and after.rejected["e" * 64] == "broken"
    assert catalog_index.load_columns(shards_dir).names == catalog_index.listed_shards(shards_dir)
    # A damaged index, and a shard gone (verify --repair): rebuilt, never trusted.
    catalog_index.index_path(shards_dir).write_bytes(b"not hdf5")
    gone = catalog_index.listed_shards(shards_dir)[-1]
    (shards_dir / gone).unlink()
    rebuilt = ShardCatalog.load(shards_dir)
    remaining = {key.decode() for name in catalog_index.listed_shards(shards_dir)
                 for key in shards.read_keys(shards_dir / name)[0]}
    assert set(rebuilt.rows) == remaining and len(rebuilt.shard_paths) == len(after.shard_paths) - 1


def test_a_slice_reuses_the_hashes_of_the_driver_scan(data, tmp_path, opened):
    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)  # the driver's (or a first) full scan
    other = dataclasses.replace(TINY, pool="avg")  # another configuration: real work for the slices
    opened.clear()
    halves = [run_extraction(data, store, other, dataclasses.replace(TINY_RUN, shard=f"{i}/2")) for i in range(2)]
    assert opened == []  # no slice read a file to hash it: the stat cache answered
    assert sum(s.extracted for s in halves) == 12 and all(s.files_read == 0 for s in halves)


def test_verify_data_reads_every_file_and_names_what_changed(data, tmp_path):
    from typer.testing import CliRunner

    from extract.cli import app

    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    clean = CliRunner().invoke(app, ["verify", "--store", str(store), "--data"])
    assert clean.exit_code == 0 and "12 data files read; 0 differ from their index." in clean.output
    (data / "dogs" / "dogs.3.jpg").write_bytes(jpeg((40, 80, 200), "dogs-ZZZ"))
    (data / "cats" / "cats.0.jpg").unlink()
    found = CliRunner().invoke(app, ["verify", "--store", str(store), "--data"], terminal_width=200)
    assert found.exit_code == 1, found.output
    assert "data: dogs/dogs.3.jpg: content changed since it was indexed" in found.output
    assert "data: cats/cats.0.jpg: unreadable: No such file or directory" in found.output
