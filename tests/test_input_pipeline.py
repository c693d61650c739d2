"""The input pipelines (extract.pipeline, extract.feeder): the NumPy resize against TensorFlow's on real
JPEGs, decode workers against decoding in process, stage timings in the run record, a killed worker,
and the decode-worker path without TensorFlow."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from extract import RunOptions, run_extraction
from extract.feeder import DecodeWorkerError, feed_batches
from extract.prepare import prepare_image
from extract.stages import STAGES, StageTimes, merge, stage_line
from store.layout import StoreLayout
from store.runs import latest_run_record
from store import FeatureStore
from tests.conftest import REPO, SHARED, TINY, TINY_RUN, assert_features_close, make_dataset

# float32 on 0..255 pixels: TensorFlow's kernel sums in its own order (measured at most 7.7e-5)
PIXEL_TOLERANCE = 2e-4


def _real_jpegs(count: int) -> list[str]:
    folder = SHARED / "data" / "dogs_vs_cats" / "train" / "dogs"
    if not folder.is_dir():
        pytest.skip(f"SKIPPED: real JPEGs need ../shared/data (not found at {folder})")
    return [str(p) for p in sorted(folder.iterdir())[:count]]


@pytest.mark.parametrize("mode", ["squash", "crop", "pad"])
def test_the_numpy_resize_is_tensorflows_on_real_jpegs_and_odd_sizes(tmp_path, mode):
    import keras

    from extract.decode import read_and_decode
    from extract.model import resizing_layer

    paths = _real_jpegs(6)
    for index, (width, height) in enumerate([(375, 211), (97, 513), (1001, 667)]):  # re-encoded at odd sizes
        odd = Image.open(paths[index]).resize((width, height), Image.LANCZOS)
        odd.save(tmp_path / f"odd{index}.jpg", quality=87)
        paths.append(str(tmp_path / f"odd{index}.jpg"))
    for size in (150, 224):
        layer = resizing_layer(size, mode)
        for path in paths:
            image, _, _ = read_and_decode(path)
            expected = keras.ops.convert_to_numpy(layer(image[None].astype(np.float32)))[0]
            got, _, reason = prepare_image(path, size, mode)
            assert reason == "" and got.dtype == np.float32 and got.shape == (size, size, 3)
            np.testing.assert_allclose(got, expected, atol=PIXEL_TOLERANCE, err_msg=f"{path} at {size}")


def _batches(paths, workers, batch_size=4, size=32):
    times = StageTimes()
    out = list(feed_batches(paths, size, "squash", batch_size, workers, times))
    return out, times


def test_decode_workers_give_exactly_what_decoding_in_process_gives(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=5)
    paths = sorted(str(p) for p in data.rglob("*.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    paths.insert(3, str(tmp_path / "broken.png"))
    in_process, _ = _batches(paths, 0)
    by_workers, times = _batches(paths, 2)
    assert [len(b[0]) for b in by_workers] == [4] * 5 + [1]  # 21 files, batches of 4, in order
    for (images, positions, hashes, reasons), (images2, positions2, hashes2, reasons2) in zip(in_process, by_workers):
        np.testing.assert_array_equal(images, images2)
        np.testing.assert_array_equal(positions, positions2)
        assert hashes == hashes2 and reasons == reasons2
    positions = np.concatenate([b[1] for b in by_workers])
    np.testing.assert_array_equal(positions, np.arange(len(paths)))
    reasons = [r for b in by_workers for r in b[3]]
    assert reasons[3].startswith("cannot decode") and sum(bool(r) for r in reasons) == 1
    assert not by_workers[0][0][3].any(), "a file that cannot be used is a zero image"
    assert times.seconds["decode"] > 0 and times.seconds["resize"] > 0


def test_a_run_through_decode_workers_stores_the_same_features_and_records_its_stages(dataset, tmp_path):
    plain = run_extraction(dataset, tmp_path / "tf", TINY, TINY_RUN)
    workers = run_extraction(dataset, tmp_path / "workers", TINY, RunOptions(batch_size=8, decode_workers=1))
    in_process = run_extraction(dataset, tmp_path / "in_process", TINY, RunOptions(batch_size=8, decode_workers=0))
    assert plain.config.config_id == workers.config.config_id == in_process.config.config_id  # same numbers
    assert (plain.input_path, workers.input_path, in_process.input_path) == \
        ("tf.data", "1 decode worker", "decode in process")
    want = FeatureStore(tmp_path / "tf").view().read("train")
    for store in ("workers", "in_process"):
        got = FeatureStore(tmp_path / store).view().read("train")
        assert got.paths == want.paths
        assert_features_close(got.features, want.features, rtol=1e-3)
    np.testing.assert_array_equal(FeatureStore(tmp_path / "workers").view().read("train").features,
                                  FeatureStore(tmp_path / "in_process").view().read("train").features)
    record = latest_run_record(StoreLayout(tmp_path / "workers"), workers.config.config_id)
    stages = record.stats["stages"]
    assert set(stages) == set(STAGES) and all(value >= 0 for value in stages.values())
    assert stages["base"] > 0 and stages["decode"] > 0 and record.stats["input_path"] == "1 decode worker"
    tf_stages = latest_run_record(StoreLayout(tmp_path / "tf"), plain.config.config_id).stats["stages"]
    assert tf_stages["resize"] is None, "inside the tf.data graph: not timed on its own, never a made-up 0"
    assert "resize in tf.data" in stage_line(tf_stages) and "base" in stage_line(stages, "1 decode worker")


def test_stage_seconds_of_several_tasks_add_up():
    assert merge([{"base": 1.0, "resize": None}, {"base": 2.5, "resize": 0.5}]) == {"base": 3.5, "resize": None}
    assert stage_line({}) == ""


def test_a_killed_decode_worker_ends_the_run_in_one_line_without_hanging(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=60, splits=("train",))
    paths = sorted(str(p) for p in data.rglob("*.png"))
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("the feeder hung")))
    signal.alarm(60)
    try:
        batches = feed_batches(paths, 32, "squash", 2, 1)
        next(batches)
        for child in multiprocessing.active_children():  # the pool's worker process
            os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(DecodeWorkerError) as caught:
            for _ in batches:
                pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    message = str(caught.value)
    assert "\n" not in message and "decode worker process died" in message and "--decode-workers 1" in message


def test_decode_worker_counts_are_checked_before_any_work():
    from extract.errors import OptionError

    for bad in (-1, 1.5, True):
        with pytest.raises(OptionError, match="--decode-workers is a count of processes"):
            RunOptions(decode_workers=bad)


def test_the_decode_worker_path_runs_without_tensorflow_from_a_script_with_no_main_guard(tmp_path):
    """TensorFlow (and Keras) made unimportable: decoding, resizing and batching still run; and the
    workers never re-run the calling script (it has no `if __name__ == "__main__"` guard)."""
    data = make_dataset(tmp_path / "data", per_class=3, splits=("train",))
    script = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None  # any import of it now fails
        sys.modules["keras"] = None
        from extract.pipeline import input_batches
        paths = sorted(str(p) for p in __import__("pathlib").Path({str(data)!r}).rglob("*.png"))
        for workers in (0, 1):
            batches = list(input_batches(paths, 32, "crop", 4, runtime="onnxruntime", decode_workers=workers))
            assert sum(len(b[0]) for b in batches) == len(paths) == 6, batches
        assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None
        print("ok")
    """)
    (tmp_path / "script.py").write_text(script)
    result = subprocess.run([sys.executable, str(tmp_path / "script.py")], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
