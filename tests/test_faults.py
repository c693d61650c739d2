"""Faults around a run: a second writer, a full or read-only disk, data changing under the run,
and store files that were tampered with."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest
from typer.testing import CliRunner

from extract import dataset_plan
from extract.api import run_extraction
from extract.options import ExtractOptions, RunOptions
from extract.cli import app
from store import FeatureStore
from store.lock import StoreBusyError
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN, cli_flags, make_dataset

SLOW = ExtractOptions(backbone="mobilenet", weights="none", size=128, alpha=0.25)
SLOW_RUN = RunOptions(batch_size=4, shard_size=8)


def test_second_writer_is_refused_and_the_first_finishes_clean(tmp_path):
    data, store = make_dataset(tmp_path / "data", per_class=100), tmp_path / "store"
    run_extraction(make_dataset(tmp_path / "warm", per_class=1), tmp_path / "warm_store", SLOW, SLOW_RUN)  # imports
    args = [sys.executable, "-m", "extract.cli", "run", "--data", str(data), "--store", str(store),
            *cli_flags(SLOW, SLOW_RUN)]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(store.glob("configs/*/shards/*.commit.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second could start"
        with pytest.raises(StoreBusyError, match="Another extract run is writing this configuration"):
            run_extraction(data, store, SLOW, SLOW_RUN)
        assert first.wait(timeout=300) == 0
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGKILL)
    assert verify_store(store).ok
    assert FeatureStore(store).view().split_counts() == {"train": 200, "validation": 200}


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only file system")])
def test_full_or_read_only_disk_is_one_line_and_keeps_what_was_there(dataset, tmp_path, monkeypatch, code, words):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, TINY_RUN)
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file() and p.name != "writer.lock"}
    make_dataset(tmp_path / "more", per_class=2, seed=9)
    for path in (tmp_path / "more").rglob("*.png"):
        target = dataset / path.relative_to(tmp_path / "more")
        target.with_name("more_" + target.name).write_bytes(path.read_bytes())

    real_file = h5py.File

    def failing_file(name, mode="r", *args, **kwargs):
        if mode == "w":
            raise OSError(code, os.strerror(code), str(name))
        return real_file(name, mode, *args, **kwargs)

    monkeypatch.setattr("store.shards.h5py.File", failing_file)
    result = CliRunner().invoke(app, ["run", "--data", str(dataset), "--store", str(store),
                                      "--backbone", "mobilenet", "--weights", "none", "--size", "32",
                                      "--alpha", "0.25", "--layer", TINY.layer])
    assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output
    monkeypatch.undo()
    after = {p: p.read_bytes() for p in store.rglob("*") if p.is_file() and p.name != "writer.lock"}
    assert after == before  # nothing lost, nothing half-written, no temporary left behind
    assert verify_store(store).ok
    assert run_extraction(dataset, store, TINY, TINY_RUN).extracted == 8


def test_files_changing_under_the_run_are_reported_not_fatal(dataset, tmp_path, monkeypatch):
    changed = dataset / "train" / "cats" / "cats.train.1.png"
    deleted = dataset / "train" / "dogs" / "dogs.train.2.png"
    real_scan = dataset_plan.scan_dataset  # the one scan of a run (extract.dataset_plan.scan_of)

    def scan_then_change(*args, **kwargs):
        scan = real_scan(*args, **kwargs)
        changed.write_bytes((dataset / "validation" / "dogs" / "dogs.validation.0.png").read_bytes())
        deleted.unlink()
        return scan

    monkeypatch.setattr(dataset_plan, "scan_dataset", scan_then_change)
    summary = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    assert summary.changed == 1
    assert dict(summary.rejected)["train/dogs/dogs.train.2.png"].startswith("unreadable")
    view = FeatureStore(tmp_path / "store").view()
    train, validation = view.read("train"), view.read("validation")
    row = train.paths.index("train/cats/cats.train.1.png")
    other = validation.paths.index("validation/dogs/dogs.validation.0.png")
    assert train.hashes[row] == validation.hashes[other]  # keyed by the content actually read
    assert (train.features[row] == validation.features[other]).all()


def test_tampered_store_files_are_refused(dataset, tmp_path):
    store = tmp_path / "store"
    summary = run_extraction(dataset, store, TINY, TINY_RUN)
    config_dir = store / "configs" / summary.config.config_id
    record = json.loads((config_dir / "config.json").read_text())
    record["size"] = 64  # claims another configuration than the one its id names
    (config_dir / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="does not match its id"):
        FeatureStore(store).configs()


def test_store_paths_cannot_escape(dataset, tmp_path):
    store = tmp_path / "store"
    summary = run_extraction(dataset, store, TINY, TINY_RUN)
    config_dir = store / "configs" / summary.config.config_id
    marker = next((config_dir / "shards").glob("*.commit.json"))
    original = marker.read_text()
    content = json.loads(original)
    content["shard"] = "../../../elsewhere.h5"
    marker.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="must be a relative path inside its folder"):
        FeatureStore(store).view()
    problems = {p.path: p.what for p in verify_store(store).problems}
    assert "commit marker unreadable or foreign" in problems[marker]  # reported (and dropped by --repair)
    marker.write_text(original)

    index = next((store / "datasets").glob("*/index-*.h5"))
    with h5py.File(index, "a") as f:
        paths = [p.decode() for p in f["path"][:]]
        paths[0] = "../../../etc/passwd"
        del f["path"]
        f.create_dataset("path", data=paths, dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match="outside its data root"):
        FeatureStore(store).view()
    (store / "store.json").write_text(json.dumps({"format": "something-else", "version": 9}))
    with pytest.raises(ValueError, match="Unsupported store format"):
        FeatureStore(store)
