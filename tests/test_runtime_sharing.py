"""A converted base is shared, never made twice (issue 19): two processes converting the same
configuration at once leave one converted file, and Ray workers read the store's conversion."""
import importlib.util
import json
import multiprocessing
from pathlib import Path

import pytest

from extract import Extractor, RunOptions, run_extraction
from extract.runtimes import onnx as ort
from tests.conftest import TINY, make_dataset

pytestmark = pytest.mark.skipif(ort.OnnxRuntime().unavailable() is not None,
                                reason="SKIPPED: onnxruntime, onnx or tf2onnx not installed")


def _convert_in_a_process(store: str, barrier, report: str) -> None:
    """Convert, then wait until the other process has converted too: both publish at the same moment."""
    real = ort.convert

    def convert_then_wait(extractor, path):
        real(extractor, path)
        barrier.wait(timeout=240)

    ort.convert = convert_then_wait
    extractor = Extractor.from_options(TINY, runtime="onnxruntime")
    extractor.runtime_store = Path(store)
    session = extractor.infer
    Path(report).write_text(json.dumps([session.converted_here, session.sha256]))


def test_two_processes_converting_at_once_leave_one_converted_file(tmp_path):
    store = tmp_path / "store"
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow threads
    barrier = context.Barrier(2)
    reports = [tmp_path / f"{n}.json" for n in range(2)]
    workers = [context.Process(target=_convert_in_a_process, args=(str(store), barrier, str(report)))
               for report in reports]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=400)
    assert [w.exitcode for w in workers] == [0, 0]
    outcomes = [json.loads(report.read_text()) for report in reports]
    assert sorted(converted for converted, _ in outcomes) == [False, True], "one published, the other read it"
    folder = ort.converted_dir(store, Extractor.from_options(TINY).config.config_id)
    record = json.loads((folder / ort.RECORD_FILE).read_text())
    assert {sha for _, sha in outcomes} == {record["sha256"]} == {ort.file_sha256(folder / ort.MODEL_FILE)}
    assert sorted(p.name for p in folder.iterdir()) == [ort.RECORD_FILE, ort.MODEL_FILE]
    assert [p.name for p in folder.parent.iterdir()] == ["onnxruntime"], "no staging folder left behind"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="SKIPPED: ray is not installed")
def test_ray_workers_use_the_stores_converted_base_and_never_convert_again(tmp_path):
    import ray

    data = make_dataset(tmp_path / "data", per_class=4)  # 16 images: shards of 4, spread over 2 workers
    store = tmp_path / "store"
    try:
        summary = run_extraction(data, store, TINY, RunOptions(batch_size=4, shard_size=4, engine="ray", workers=2,
                                                               runtime="onnxruntime"))
    finally:
        left = ray.is_initialized()
        ray.shutdown()
    assert not left, "the engine must shut down the Ray instance it started"
    folder = ort.converted_dir(store, summary.config.config_id)
    sha = json.loads((folder / ort.RECORD_FILE).read_text())["sha256"]
    assert summary.extracted == 16 and len(summary.runtimes) == 2, summary.runtimes
    # each worker computed with the store's file (same sha256), read, not converted in the worker
    assert set(summary.runtimes.values()) == {f"onnxruntime (model.onnx sha256 {sha[:12]}, read from the store)"}
    assert all(label.startswith("127.0.0.1:") for label in summary.runtimes)
