"""kill -9 in the middle of `extract run`, then run again: every image present exactly once,
with the same features as a run that was never interrupted."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from extract.api import run_extraction
from extract.options import ExtractOptions, RunOptions
from store import FeatureStore
from store.shards import committed_shards, read_keys
from tests.conftest import assert_features_close, cli_flags, make_dataset

pytestmark = pytest.mark.slow
# slow enough to kill mid-run; features not vanished
EXTRACT = ExtractOptions(backbone="mobilenet", weights="none", size=128, alpha=0.25, layer="conv_pw_3_relu")
RUN = RunOptions(batch_size=4, shard_size=8)


def cli_args(data, store):
    return [sys.executable, "-m", "extract.cli", "run", "--data", str(data), "--store", str(store),
            *cli_flags(EXTRACT, RUN)]


def committed_hashes(store):
    shards_dir = next((store / "configs").iterdir()) / "shards"
    hashes = []
    for path, _ in committed_shards(shards_dir):
        hashes += [h.decode() for h in read_keys(path)[0]]
    return hashes


@pytest.fixture(scope="module")
def data_and_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    data = make_dataset(root / "data", per_class=40)  # 160 images
    run_extraction(data, root / "reference", EXTRACT, RUN)
    return data, FeatureStore(root / "reference").view()


@pytest.mark.parametrize("kill_after_shards", [1, 6, 13])
def test_kill_then_resume_loses_nothing_and_duplicates_nothing(data_and_reference, tmp_path,
                                                               kill_after_shards):
    data, reference = data_and_reference
    store = tmp_path / "store"
    process = subprocess.Popen(cli_args(data, store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        markers = list(store.glob("configs/*/shards/*.commit.json"))
        if len(markers) >= kill_after_shards:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed: make the job larger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = committed_hashes(store)
    assert len(partial) < 160

    summary = run_extraction(data, store, EXTRACT, RUN)
    assert summary.cached + summary.extracted == 160
    hashes = committed_hashes(store)
    assert Counter(hashes).most_common(1)[0][1] == 1, "an image was stored twice"
    assert sorted(hashes) == sorted(reference.catalog.rows)
    view = FeatureStore(store).view()
    assert not list(view.layout.shards_dir(view.config.config_id).glob(".*.tmp"))
    for split in ("train", "validation"):
        got, want = view.read(split), reference.read(split)
        assert got.paths == want.paths and (got.labels == want.labels).all()
        assert_features_close(got.features, want.features)
