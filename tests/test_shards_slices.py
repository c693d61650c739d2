"""`--shard i/n` slices: a deterministic partition, concurrent slice processes, and `extract merge`
giving the same store as one local run (same keys, same features, every image stored once)."""
import dataclasses
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app
from extract.options import RunOptions
from extract.scan import ScanEntry
from extract.slices import Slice, SliceError
from store import FeatureStore
from store.layout import StoreLayout
from store.lock import StoreBusyError, slice_lock, writer_lock
from store.shards import committed_shards, read_keys
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN, assert_features_close, cli_flags, make_dataset

RUN = dataclasses.replace(TINY_RUN, shard_size=8)
cli = CliRunner()


def sliced(shard: str) -> RunOptions:
    """RUN for one slice ("i/n")."""
    return dataclasses.replace(RUN, shard=shard)


def cli_args(data: Path, store: Path, *extra: str) -> list[str]:
    return ["run", "--data", str(data), "--store", str(store), *extra, *cli_flags(TINY, RUN)]


def make_job(root: Path) -> Path:
    """36 images in 3 classes, one file duplicated under a second name, one file that is no image."""
    data = make_dataset(root, per_class=6, classes=("cats", "dogs", "birds"))
    shutil.copy(data / "train" / "cats" / "cats.train.0.png", data / "validation" / "dogs" / "copy.png")
    (data / "train" / "birds" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    return data


def stored_rows(store: Path) -> Counter:
    """How many committed shard rows (features or rejections) hold each content hash."""
    counts: Counter = Counter()
    for config_dir in (store / "configs").iterdir():
        for path, _ in committed_shards(config_dir / "shards"):
            hashes, rejected, _ = read_keys(path)
            counts.update(h.decode() for h in hashes)
            counts.update(h.decode() for h in rejected)
    return counts


def assert_same_store(got: Path, want: Path) -> None:
    """Same keys, same index, same features up to float tolerance, every image stored exactly once."""
    rows = stored_rows(got)
    assert rows and max(rows.values()) == 1, f"an image was stored twice: {rows.most_common(2)}"
    assert set(rows) == set(stored_rows(want))
    got_view, want_view = FeatureStore(got).view(), FeatureStore(want).view()
    assert got_view.config.config_id == want_view.config.config_id
    assert got_view.split_counts() == want_view.split_counts()
    # Reasons are compared up to a '<' because PIL's message names an object address (extract/decode.py).
    assert [(p, r.split("<")[0]) for p, r in got_view.rejected()] == \
        [(p, r.split("<")[0]) for p, r in want_view.rejected()]
    assert got_view.index.paths == want_view.index.paths and got_view.index.hashes == want_view.index.hashes
    for split in want_view.index.split_names():
        a, b = got_view.read(split), want_view.read(split)
        assert a.paths == b.paths and a.hashes == b.hashes and (a.labels == b.labels).all()
        assert_features_close(a.features, b.features)
    assert verify_store(got).ok


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    data = make_job(root / "data")
    summary = run_extraction(data, root / "reference", TINY, RUN)
    assert summary.images == 38 and summary.cached == 0 and len(summary.rejected) == 1
    return data, root / "reference"


def test_slices_partition_the_images_by_content():
    rng = np.random.default_rng(0)
    entries = [ScanEntry(f"c/{i}.png", 0, "train", rng.bytes(32).hex(), "png") for i in range(500)]
    entries.append(ScanEntry("c/unreadable.png", 0, "train", "", None, "unreadable"))
    for count in (1, 2, 4, 7):
        owners = [[i for i in range(count) if Slice(i, count).holds(e)] for e in entries]
        assert all(len(o) == 1 for o in owners), "every image in exactly one slice"
        sizes = Counter(o[0] for o in owners)
        assert len(sizes) == count and min(sizes.values()) > 0.5 * len(entries) / count
    moved = ScanEntry("elsewhere/renamed.png", 1, "validation", entries[3].hash, "png")
    assert [Slice(i, 4).holds(moved) for i in range(4)] == [Slice(i, 4).holds(entries[3]) for i in range(4)]


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1/0", "3", "a/b", "1/2/3", ""])
def test_bad_slice_is_one_line_and_writes_nothing(job, tmp_path, text):
    data, _ = job
    with pytest.raises(SliceError, match="--shard"):
        Slice.parse(text)
    result = cli.invoke(app, cli_args(data, tmp_path / "s", "--shard", text))
    assert result.exit_code == 3 and "--shard" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_four_concurrent_slice_processes_then_merge_equal_one_local_run(job, tmp_path):
    data, reference = job
    store = tmp_path / "store"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [subprocess.Popen([sys.executable, "-m", "extract.cli", *cli_args(data, store, "--shard", f"{i}/4")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
                 for i in range(4)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    assert FeatureStore(store).view().index is None, "no slice may publish a dataset index alone"
    merged = cli.invoke(app, ["merge", "--store", str(store)])
    assert merged.exit_code == 0 and "slices combined into the dataset index" in merged.output, merged.output
    assert not list(store.rglob("slice-*-of-4.h5")), "the partial indexes are consumed by the merge"
    assert_same_store(store, reference)
    again = run_extraction(data, store, TINY, RUN)  # a full run after the slices finds everything cached
    assert again.extracted == 0 and again.cached == again.images == 38


def test_merge_waits_for_missing_slices_and_a_full_run_also_finishes(job, tmp_path):
    data, reference = job
    store = tmp_path / "store"
    first = run_extraction(data, store, TINY, sliced("1/3"))
    assert first.slice == "1/3" and 0 < first.images < 38
    result = cli.invoke(app, ["merge", "--store", str(store)])
    assert result.exit_code == 1 and "slices 0, 2 of 3 have not finished" in result.output
    assert FeatureStore(store).view().index is None
    rest = run_extraction(data, store, TINY, RUN)  # the plain way: a full run extracts the rest
    assert rest.cached == first.images and rest.extracted > 0
    assert_same_store(store, reference)


def test_slices_written_to_separate_stores_merge_into_one(job, tmp_path):
    data, reference = job
    parts = [tmp_path / f"node{i}" for i in range(2)]
    for i, part in enumerate(parts):
        run_extraction(data, part, TINY, sliced(f"{i}/2"))
    sources = [arg for part in parts for arg in ("--from", str(part))]
    result = cli.invoke(app, ["merge", "--store", str(tmp_path / "central"), *sources])
    assert result.exit_code == 0, result.output
    assert_same_store(tmp_path / "central", reference)
    again = cli.invoke(app, ["merge", "--store", str(tmp_path / "central"), *sources])
    assert again.exit_code == 0 and "Imported 0 feature rows" in again.output
    assert_same_store(tmp_path / "central", reference)
    refused = cli.invoke(app, ["merge", "--store", str(parts[0]), "--from", str(parts[0])])
    assert refused.exit_code == 3 and "names the store itself" in refused.output


def test_slice_locks_let_slices_run_together_and_refuse_the_rest(job, tmp_path):
    data, _ = job
    store = tmp_path / "store"
    config_id = run_extraction(data, store, TINY, sliced("0/4")).config.config_id
    lock = StoreLayout(store).lock_file(config_id)
    with slice_lock(lock, 2, 4):  # another process is writing slice 2 of 4
        assert run_extraction(data, store, TINY, sliced("1/4")).slice == "1/4"
        with pytest.raises(StoreBusyError, match="Slice 2/4 is already being written"):
            run_extraction(data, store, TINY, sliced("2/4"))
        with pytest.raises(StoreBusyError, match="Another extract run is writing this configuration"):
            run_extraction(data, store, TINY, RUN)
        merged = cli.invoke(app, ["merge", "--store", str(store)])
        assert merged.exit_code == 1 and "Another extract run is writing" in merged.output
    with writer_lock(lock):  # a full run is writing: no slice may start
        with pytest.raises(StoreBusyError, match="Another extract run is writing this configuration"):
            run_extraction(data, store, TINY, sliced("3/4"))
