"""`extract verify` finds corruption precisely, and --repair makes the next run re-extract only that."""
import dataclasses
import threading
import time

import h5py
import numpy as np
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app
from store import FeatureStore, atomic, init_store
from store.config import ExtractorConfig, write_config
from store.lock import StoreBusyError, writer_lock
from store.shards import MARKER_SUFFIX, ShardContent, write_shard
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN

RUN = dataclasses.replace(TINY_RUN, shard_size=6)
SHARDS = 40


def shard_files(store):
    return sorted(store.glob("configs/*/shards/shard-*.h5"))


def test_clean_store_verifies(dataset, tmp_path):
    run_extraction(dataset, tmp_path / "store", TINY, RUN)
    report = verify_store(tmp_path / "store")
    assert report.ok and report.shards_checked == 4 and report.rows_checked == 24


def test_corruption_is_found_and_repaired(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    flipped, torn = shard_files(store)[:2]
    with open(flipped, "r+b") as handle:  # a bit flip after commit
        handle.seek(flipped.stat().st_size - 64)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    torn.write_bytes(torn.read_bytes()[:500])  # truncated after commit
    (flipped.parent / "shard-20000101T000000-deadbeef00.h5").write_bytes(b"half a shard")  # no marker
    report = verify_store(store)
    found = {problem.path.name: problem.what for problem in report.problems}
    assert "sha256 differs" in found[flipped.name]
    assert "size" in found[torn.name]
    assert "uncommitted" in found["shard-20000101T000000-deadbeef00.h5"]
    assert any("indexed images have no features" in what for what in found.values())

    result = CliRunner().invoke(app, ["verify", "--store", str(store)])
    assert result.exit_code == 1 and flipped.name in result.output
    result = CliRunner().invoke(app, ["verify", "--store", str(store), "--repair"])
    assert result.exit_code == 0 and "Dropped 5 files" in result.output

    again = run_extraction(dataset, store, TINY, RUN)
    assert again.extracted == 12 and again.cached == 12  # exactly what the two shards held
    assert verify_store(store).ok
    assert FeatureStore(store).view().split_counts() == {"train": 12, "validation": 12}


def test_wrong_shape_is_reported(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    victim = shard_files(store)[0]
    with h5py.File(victim, "a") as f:  # a foreign writer changed it (size and sha change too)
        f.attrs["config_id"] = "resnet50-000000000000"
    assert not verify_store(store).ok


def test_repair_racing_a_writer_keeps_every_committed_shard(tmp_path, monkeypatch):
    """A writer commits shards in a loop while `verify --repair` runs again and again: a repair decides
    and deletes under the writer lock, so it never takes a shard between its rename and its marker
    for a killed run's leftover (the marker write is slowed to widen that window)."""
    layout = init_store(tmp_path / "store")
    config = ExtractorConfig("mobilenet", "random-init-seed0", "tf", 32, "conv_pw_1_relu", feature_shape=(4,))
    write_config(layout, config)
    shards_dir, lock = layout.shards_dir(config.config_id), layout.lock_file(config.config_id)
    real_write_json = atomic.write_json

    def slow_marker(final, data):
        if str(final).endswith(MARKER_SUFFIX):
            time.sleep(0.01)
        return real_write_json(final, data)

    monkeypatch.setattr(atomic, "write_json", slow_marker)
    committed: list[str] = []

    def writer() -> None:
        for i in range(SHARDS):
            while True:
                try:
                    with writer_lock(lock):
                        content = ShardContent([f"{i:064x}"], np.full((1, 4), i, np.float16), [], [])
                        committed.append(write_shard(shards_dir, config.config_id, content))
                    break
                except StoreBusyError:
                    time.sleep(0.001)
            time.sleep(0.003)  # lets a repair in between two shards

    thread = threading.Thread(target=writer)
    thread.start()
    repairs, deleted = 0, []
    while thread.is_alive():
        try:
            deleted += verify_store(layout.root, repair=True).repaired
            repairs += 1
            time.sleep(0.005)  # lets the writer in between two repairs
        except StoreBusyError:
            time.sleep(0.001)
    thread.join()
    assert repairs > 0, "the repair never ran beside the writer"
    assert deleted == []
    assert len(committed) == SHARDS
    for name in committed:
        assert (shards_dir / f"{name}.h5").is_file() and (shards_dir / f"{name}{MARKER_SUFFIX}").is_file()
    report = verify_store(layout.root)
    assert report.ok and report.shards_checked == SHARDS
