"""`extract verify` finds corruption precisely, and --repair makes the next run re-extract only that."""
import h5py
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app
from store import FeatureStore
from store.verify import verify_store
from tests.conftest import TINY

OPTIONS = {**TINY, "shard_size": 6}


def shard_files(store):
    return sorted(store.glob("configs/*/shards/shard-*.h5"))


def test_clean_store_verifies(dataset, tmp_path):
    run_extraction(dataset, tmp_path / "store", **OPTIONS)
    report = verify_store(tmp_path / "store")
    assert report.ok and report.shards_checked == 4 and report.rows_checked == 24


def test_corruption_is_found_and_repaired(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, **OPTIONS)
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

    again = run_extraction(dataset, store, **OPTIONS)
    assert again.extracted == 12 and again.cached == 12  # exactly what the two shards held
    assert verify_store(store).ok
    assert FeatureStore(store).view().split_counts() == {"train": 12, "validation": 12}


def test_wrong_shape_is_reported(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, **OPTIONS)
    victim = shard_files(store)[0]
    with h5py.File(victim, "a") as f:  # a foreign writer changed it (size and sha change too)
        f.attrs["config_id"] = "resnet50-000000000000"
    assert not verify_store(store).ok
