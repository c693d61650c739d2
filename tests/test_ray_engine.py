"""`--engine ray` on a local Ray instance (loopback only, 2 CPUs): the same store as the local
path, and a worker killed in the middle of a shard costs only that shard."""
import dataclasses
import importlib.util
import os
import re
import signal
import socket

import pytest
from typer.testing import CliRunner

from extract import ExtractOptions, Extractor, RunOptions
from extract.api import run_extraction
from extract.cli import app
from extract.engines.ray_engine import TaskFailedError
from store.shards import file_sha256
from store import FeatureStore
from store.shards import uncommitted_files
from store.verify import verify_store
from tests.conftest import SYNTHETIC_WEIGHTS, TINY, make_dataset
from tests.test_shards_slices import RUN, assert_same_store, cli_args, make_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                       reason="SKIPPED: ray is not installed (pip install -e \".[ray]\")"),
]
cli = CliRunner()
# Larger images and shards than the other tests: a shard takes long enough to be killed inside.
KILL = ExtractOptions(backbone="mobilenet", weights="none", size=128, alpha=0.25, layer="conv_pw_3_relu")
KILL_RUN = RunOptions(batch_size=4, shard_size=32)


@pytest.fixture(autouse=True)
def no_ray_left_running():
    import ray

    yield
    left = ray.is_initialized()
    ray.shutdown()
    assert not left, "the engine must shut down the Ray instance it started"


def test_ray_engine_writes_the_same_store_as_the_local_engine(tmp_path):
    data = make_job(tmp_path / "data")
    run_extraction(data, tmp_path / "local", TINY, RUN)
    result = cli.invoke(app, cli_args(data, tmp_path / "ray", "--engine", "ray", "--workers", "2"))
    assert result.exit_code == 0, result.output
    assert "ray (local instance): 2 workers x 1 CPU" in result.output and "worker 127.0.0.1:" in result.output
    assert re.search(r"worker 127\.0\.0\.1:\d+ CPU", result.output), result.output  # and its device
    assert_same_store(tmp_path / "ray", tmp_path / "local")
    again = cli.invoke(app, cli_args(data, tmp_path / "ray", "--engine", "ray"))
    assert again.exit_code == 0 and "Nothing to extract: all 38 images are already cached" in again.output


def test_a_worker_killed_mid_shard_loses_only_that_shard(tmp_path):
    import ray

    data = make_dataset(tmp_path / "data", per_class=40)  # 160 images: 5 tasks of one 32-image shard
    run_extraction(data, tmp_path / "local", KILL, KILL_RUN)
    seen: dict[str, int] = {}
    killed: list[str] = []
    progress: list[int] = []

    def kill_the_first_worker_after_its_first_batch(worker: str, count: int) -> None:
        seen[worker] = seen.get(worker, 0) + count
        if not killed:
            assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}, "loopback only"
            os.kill(int(worker.split()[0].rsplit(":", 1)[1]), signal.SIGKILL)  # 4 of its 32 images done: mid-shard
            killed.append(worker)

    summary = run_extraction(data, tmp_path / "ray", KILL, dataclasses.replace(KILL_RUN, engine="ray", workers=2),
                             on_progress=progress.append, on_worker_progress=kill_the_first_worker_after_its_first_batch)
    assert killed and "1 retried task" in summary.engine
    assert summary.extracted == 160 and summary.cached == 0
    assert sum(progress) == 160, "the dead worker's uncommitted images are counted once, by their retry"
    assert summary.workers[killed[0]][0] == 0, "the killed worker committed nothing: it died inside its shard"
    assert all(label.endswith(" CPU") for label in summary.workers), summary.workers  # "ip:pid device"
    assert summary.devices and set(summary.devices.values()) == {"CPU"}
    assert_same_store(tmp_path / "ray", tmp_path / "local")  # every image exactly once
    view = FeatureStore(tmp_path / "ray").view()
    assert not uncommitted_files(view.layout.shards_dir(view.config.config_id))
    assert verify_store(tmp_path / "ray").ok


def test_impossible_resources_are_one_line_and_write_nothing(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2)
    result = cli.invoke(app, cli_args(data, tmp_path / "s", "--engine", "ray", "--gpus-per-worker", "1",
                                      "--workers", "2"))
    assert result.exit_code == 3 and "need 2 CPUs and 2 GPUs; the Ray cluster has 2 CPUs and 0 GPUs" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_a_worker_whose_weights_file_differs_is_refused(tmp_path, synthetic_weights):
    """The driver hashed sha256 A; by the time the workers load the file at the same path it holds
    B (another file on that node): the task fails at once, naming the node and both hashes."""
    data = make_dataset(tmp_path / "data", per_class=2)
    path = synthetic_weights / SYNTHETIC_WEIGHTS
    options = ExtractOptions("mobilenet", str(path), size=32, layer="conv_pw_1_relu")
    expected = Extractor.from_options(options).config.weights_sha256

    def replace_the_file(total: int) -> None:  # after the driver's check, before any worker starts
        path.write_bytes(path.read_bytes() + b"another file at the same path")

    with pytest.raises(TaskFailedError) as refused:
        run_extraction(data, tmp_path / "store", options, RunOptions(batch_size=4, engine="ray", workers=1,
                                                                     max_retries=2), on_start=replace_the_file)
    message = str(refused.value)
    assert socket.gethostname() in message and expected in message and file_sha256(path) in message, message
    assert "failed 3 times" not in message, "a weights mismatch is not retried"
    assert not list((tmp_path / "store").rglob("shard-*.h5"))
