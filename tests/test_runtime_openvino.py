"""OpenVINO float32 runs the frozen base (issue 19): converted once into the store, checked against
TensorFlow before first use, the same configuration id; `auto` prefers it on a CPU."""
import importlib.util
import json

import numpy as np
import pytest

from extract import Extractor, RunOptions, run_extraction
from extract.runtimes import RuntimeUnavailable
from extract.runtimes import onnx as ort
from extract.runtimes import openvino as ov
from extract.runtimes.choice import AUTO_MIN_IMAGES, choose_runtime
from store.layout import StoreLayout
from store.runs import latest_run_record
from tests.conftest import TINY
from tests.test_runtimes import images, wrong_convert

needs_openvino = pytest.mark.skipif(ov.OpenVinoRuntime().unavailable() is not None,
                                    reason="SKIPPED: openvino, onnx or tf2onnx not installed")


def hide(monkeypatch, *names):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in names else real(name, *a))


def openvino_extractor(store):
    extractor = Extractor.from_options(TINY, runtime="openvino")
    extractor.runtime_store = store
    return extractor


@needs_openvino
def test_openvino_features_agree_with_tensorflow_under_the_same_id_and_stay_float32(tmp_path):
    reference, other = Extractor.from_options(TINY), openvino_extractor(tmp_path / "store")
    assert other.config.config_id == reference.config.config_id
    batch = images(7)  # 7 over 2 streams: uneven chunks joined back in order
    want = np.asarray(reference.infer(batch))
    got = other.infer(batch)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert ort.disagreement(got, want) <= 1e-5, "float32 on both sides: far inside the 1e-3 tolerance"
    assert other.infer.agreement["max_difference"] <= ort.TOLERANCE
    folder = ov.openvino_dir(tmp_path / "store", other.config.config_id)
    record = json.loads((folder / ov.RECORD).read_text())
    assert record["config_id"] == other.config.config_id
    assert record["sha256"] == {name: ort.file_sha256(folder / name) for name in (ov.XML, ov.BIN)}
    assert record["converter"]["openvino"] != "missing"
    assert 'element_type="f16"' not in (folder / ov.XML).read_text(), "weights kept float32, not compressed"


@needs_openvino
def test_the_converted_base_is_reused_not_converted_twice(tmp_path, monkeypatch):
    openvino_extractor(tmp_path / "store").infer
    calls = []
    monkeypatch.setattr(ov, "to_openvino", lambda *args: calls.append(args))
    session = openvino_extractor(tmp_path / "store").infer
    assert session(images(3)).shape[0] == 3 and calls == [] and not session.converted_here
    assert "read from the store" in session.describe()


@needs_openvino
def test_a_converted_file_that_does_not_match_its_sha256_is_refused_in_one_line(tmp_path):
    extractor = openvino_extractor(tmp_path / "store")
    extractor.infer
    weights = ov.openvino_dir(tmp_path / "store", extractor.config.config_id) / ov.BIN
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(RuntimeUnavailable) as error:
        openvino_extractor(tmp_path / "store").infer
    assert "\n" not in str(error.value) and "sha256" in str(error.value)


@needs_openvino
def test_a_converted_base_that_disagrees_with_tensorflow_is_refused_before_any_feature(tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "convert", wrong_convert)
    session = openvino_extractor(None).infer
    with pytest.raises(RuntimeUnavailable) as error:
        session(images(4))
    message = str(error.value)
    assert "\n" not in message and "OpenVINO's features" in message and "--runtime openvino" in message
    with pytest.raises(RuntimeUnavailable):  # a refused session never gives features
        session(images(4))


def test_a_missing_openvino_is_one_line(monkeypatch):
    hide(monkeypatch, "openvino")
    with pytest.raises(RuntimeUnavailable) as error:
        Extractor.from_options(TINY, runtime="openvino").infer
    assert "\n" not in str(error.value) and "missing: openvino" in str(error.value)


@needs_openvino
def test_auto_prefers_openvino_on_a_cpu_then_onnxruntime_then_tensorflow(tmp_path, monkeypatch):
    assert choose_runtime("auto", AUTO_MIN_IMAGES, None, "c") == "openvino"
    assert choose_runtime("auto", AUTO_MIN_IMAGES, None, "c", on_gpu=True) == "tensorflow"
    assert choose_runtime("auto", AUTO_MIN_IMAGES - 1, tmp_path, "c") == "tensorflow"
    folder = ov.openvino_dir(tmp_path, "c")  # a stored conversion costs nothing more: taken for a small run
    folder.mkdir(parents=True)
    (folder / ov.RECORD).write_text("{}")
    assert choose_runtime("auto", 1, tmp_path, "c") == "openvino"
    hide(monkeypatch, "openvino")
    assert choose_runtime("auto", AUTO_MIN_IMAGES, None, "c") == "onnxruntime"
    hide(monkeypatch, "openvino", "onnxruntime")
    assert choose_runtime("auto", 10 ** 6, None, "c") == "tensorflow"


@needs_openvino
def test_extract_run_with_openvino_stores_tensorflows_features_and_names_the_runtime(dataset, tmp_path):
    from store import FeatureStore

    first = run_extraction(dataset, tmp_path / "tf", TINY, RunOptions(batch_size=8, runtime="tensorflow"))
    second = run_extraction(dataset, tmp_path / "ov", TINY, RunOptions(batch_size=8, runtime="openvino"))
    assert first.config.config_id == second.config.config_id and second.extracted == first.extracted > 0
    stats = latest_run_record(StoreLayout(tmp_path / "ov"), second.config.config_id).stats
    assert stats["runtime"] == "openvino" and stats["runtime_check"]["on"] == "the run's images"
    assert stats["runtime_check"]["max_difference"] <= ort.TOLERANCE
    assert list(second.runtimes.values())[0].startswith("openvino (model.xml sha256 ")
    want, got = FeatureStore(tmp_path / "tf").view().read("train"), FeatureStore(tmp_path / "ov").view().read("train")
    assert got.paths == want.paths
    assert ort.disagreement(got.features, want.features) <= 2e-3  # float16 storage on top of 1e-3


@needs_openvino
def test_extract_run_refuses_a_different_converted_file_and_stores_nothing(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "convert", wrong_convert)
    with pytest.raises(RuntimeUnavailable) as error:
        run_extraction(dataset, tmp_path / "store", TINY, RunOptions(batch_size=8, runtime="openvino"))
    assert "\n" not in str(error.value) and "of the run's images" in str(error.value)
    assert not list((tmp_path / "store").rglob("shard-*.h5")), "no feature of a refused conversion is stored"


@pytest.mark.slow
@needs_openvino
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="SKIPPED: ray is not installed")
def test_ray_workers_use_the_stores_openvino_base_and_never_convert_again(tmp_path):
    import ray

    from tests.conftest import make_dataset

    data = make_dataset(tmp_path / "data", per_class=4)  # 16 images: shards of 4, spread over 2 workers
    try:
        summary = run_extraction(data, tmp_path / "store", TINY, RunOptions(batch_size=4, shard_size=4, engine="ray",
                                                                            workers=2, runtime="openvino"))
    finally:
        ray.shutdown()
    folder = ov.openvino_dir(tmp_path / "store", summary.config.config_id)
    sha = json.loads((folder / ov.RECORD).read_text())["sha256"][ov.XML]
    assert summary.extracted == 16 and len(summary.runtimes) == 2, summary.runtimes
    assert all(line.startswith(f"openvino (model.xml sha256 {sha[:12]}, read from the store")
               for line in summary.runtimes.values())
