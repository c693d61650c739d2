"""Runtimes (issue 19): the frozen base runs behind a small interface; the configuration id
never depends on which runtime computed the features."""
import json

import numpy as np
import pytest

from extract import Extractor
from extract.errors import OptionError
from extract.runtimes import RUNTIMES, get_runtime, register_runtime, runtime_names
from extract.runtimes.tensorflow import TensorFlowRuntime
from tests.conftest import TINY


def images(count: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


class EagerKeras:
    """A second real runtime for the interface: the same Keras model called eagerly, no tf.function."""

    name = "eager"
    loads = 0

    def unavailable(self):
        return None

    def load(self, extractor, store=None):
        EagerKeras.loads += 1
        model = extractor.model
        return lambda batch: np.asarray(model(batch, training=False), np.float32)

    def versions(self):
        return {"runtime": self.name}


@pytest.fixture
def eager_runtime():
    register_runtime("eager", EagerKeras)
    EagerKeras.loads = 0
    yield "eager"
    RUNTIMES.pop("eager")


def test_tensorflow_is_the_default_and_listed():
    assert "tensorflow" in runtime_names()
    assert Extractor.from_options(TINY).runtime == "tensorflow"
    versions = get_runtime("tensorflow").versions()
    assert versions["runtime"] == "tensorflow" and versions["tensorflow"] and versions["keras"]


def test_unknown_runtime_is_one_line_naming_the_allowed_ones():
    with pytest.raises(OptionError) as error:
        Extractor.from_options(TINY, runtime="tensorrt")
    message = str(error.value)
    assert "\n" not in message and "'tensorrt'" in message and "tensorflow" in message


def test_tensorflow_runtime_gives_numpy_float32_the_keras_model_gives():
    extractor = Extractor.from_options(TINY).build()
    batch = images(5)
    got = TensorFlowRuntime().load(extractor)(batch)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    want = np.asarray(extractor.model(batch, training=False))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.abs(want).max()))


def test_a_registered_runtime_computes_the_features_under_the_same_configuration_id(eager_runtime):
    reference = Extractor.from_options(TINY)
    other = Extractor.from_options(TINY, runtime=eager_runtime)
    assert other.runtime == "eager" and other.config.config_id == reference.config.config_id
    batch = images(6)
    got, want = other.features(batch, batch_size=4), reference.features(batch, batch_size=4)
    assert float(np.abs(want).max()) > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
    other.features(batch)  # loaded once per extractor, not per batch
    assert EagerKeras.loads == 1


def test_derived_extractors_keep_the_runtime(eager_runtime):
    derived = Extractor.from_options(TINY, runtime=eager_runtime).derive(pool="avg")
    assert derived.runtime == "eager"
    assert derived.features(images(2)).shape == (2, derived.config.feature_shape[0])


# --- ONNX Runtime ------------------------------------------------------------------------------
from extract.runtimes import RuntimeUnavailable  # noqa: E402
from extract.runtimes import onnx as ort  # noqa: E402

needs_ort = pytest.mark.skipif(ort.OnnxRuntime().unavailable() is not None,
                               reason="SKIPPED: onnxruntime, onnx or tf2onnx not installed")


@needs_ort
def test_onnxruntime_features_agree_with_tensorflow_under_the_same_id(tmp_path):
    reference = Extractor.from_options(TINY)
    other = Extractor.from_options(TINY, runtime="onnxruntime")
    other.runtime_store = tmp_path / "store"
    assert other.config.config_id == reference.config.config_id
    batch = images(6)
    want = reference.features(batch, batch_size=4)
    got = other.features(batch, batch_size=4)
    assert ort.disagreement(got, want) <= ort.TOLERANCE
    folder = ort.converted_dir(tmp_path / "store", other.config.config_id)
    record = json.loads((folder / ort.RECORD_FILE).read_text())
    assert record["config_id"] == other.config.config_id and len(record["sha256"]) == 64
    assert record["converter"]["tf2onnx"] != "missing"


@needs_ort
def test_the_converted_base_is_reused_not_converted_twice(tmp_path, monkeypatch):
    store = tmp_path / "store"
    first = Extractor.from_options(TINY, runtime="onnxruntime")
    first.runtime_store = store
    first.infer  # converts
    calls = []
    monkeypatch.setattr(ort, "convert", lambda *args: calls.append(args))
    second = Extractor.from_options(TINY, runtime="onnxruntime")
    second.runtime_store = store
    got = second.features(images(3))
    assert calls == [] and got.shape[0] == 3


@needs_ort
def test_a_converted_file_that_does_not_match_its_sha256_is_refused_in_one_line(tmp_path):
    store = tmp_path / "store"
    extractor = Extractor.from_options(TINY, runtime="onnxruntime")
    extractor.runtime_store = store
    extractor.infer
    model = ort.converted_dir(store, extractor.config.config_id) / ort.MODEL_FILE
    model.write_bytes(model.read_bytes() + b"\0")
    again = Extractor.from_options(TINY, runtime="onnxruntime")
    again.runtime_store = store
    with pytest.raises(RuntimeUnavailable) as error:
        again.infer
    assert "\n" not in str(error.value) and "sha256" in str(error.value)


def wrong_convert(extractor, path):
    """A converted file that is not this base: another (seeded differently) weights file, same graph."""
    import keras

    other = Extractor.from_options(TINY).build()
    keras.utils.set_random_seed(7)
    other._model = keras.models.clone_model(other.model)
    REAL_CONVERT(other, path)


REAL_CONVERT = ort.convert


@needs_ort
def test_a_converted_base_that_disagrees_with_tensorflow_is_refused_before_any_feature(tmp_path, monkeypatch):
    extractor = Extractor.from_options(TINY, runtime="onnxruntime")
    monkeypatch.setattr(ort, "convert", wrong_convert)
    infer = extractor.infer  # converted; not yet checked: the check runs on the first images it is given
    assert infer.agreement is None
    with pytest.raises(RuntimeUnavailable) as error:
        infer(images(4))
    message = str(error.value)
    assert "\n" not in message and "differ from TensorFlow" in message and "allowed 0.001" in message
    assert "on 4 of the run's images" in message
    with pytest.raises(RuntimeUnavailable):  # and again: a refused session never gives features
        infer(images(4))


@needs_ort
def test_the_agreement_check_runs_on_the_first_images_given_and_is_recorded(tmp_path):
    extractor = Extractor.from_options(TINY, runtime="onnxruntime")
    infer = extractor.infer
    batch = images(12)
    infer(batch)
    assert infer.agreement["images"] == ort.CHECK_IMAGES and infer.agreement["on"] == "the run's images"
    assert 0 <= infer.agreement["max_difference"] <= ort.TOLERANCE
    dark = Extractor.from_options(TINY, runtime="onnxruntime")
    session = dark.infer  # converted from the real model; then a reference that is all zero on blank images
    real = dark.model
    dark._model = lambda batch, training: np.zeros((len(batch), 4), np.float32) if not np.any(batch) else \
        real(batch, training=training)
    session(np.zeros((2, 32, 32, 3), np.float32))  # all-zero features would prove nothing: probe images instead
    assert session.agreement["on"].startswith("probe images") and session.agreement["images"] == ort.CHECK_IMAGES


def test_a_missing_onnxruntime_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(RuntimeUnavailable) as error:
        Extractor.from_options(TINY, runtime="onnxruntime").infer
    assert "\n" not in str(error.value) and "missing: onnxruntime" in str(error.value)


# --- choosing per run ----------------------------------------------------------------------------
from extract import RunOptions, run_extraction  # noqa: E402
from extract.runtimes.choice import AUTO_MIN_IMAGES, choose_runtime  # noqa: E402
from store.layout import StoreLayout  # noqa: E402
from store.runs import latest_run_record  # noqa: E402


def test_auto_takes_onnxruntime_for_many_images_or_an_existing_conversion(tmp_path, monkeypatch):
    from extract.runtimes import choice

    monkeypatch.setattr(choice, "CPU_RUNTIMES", ("onnxruntime",))  # OpenVINO's turn: test_runtime_openvino.py
    if ort.OnnxRuntime().unavailable():
        assert choose_runtime("auto", 10 ** 6, None, "c") == "tensorflow"
        return
    assert choose_runtime("auto", AUTO_MIN_IMAGES, None, "c") == "onnxruntime"
    assert choose_runtime("auto", AUTO_MIN_IMAGES - 1, tmp_path, "c") == "tensorflow"
    assert choose_runtime("auto", 10 ** 6, None, "c", on_gpu=True) == "tensorflow"
    folder = ort.converted_dir(tmp_path, "c")
    folder.mkdir(parents=True)
    (folder / ort.RECORD_FILE).write_text("{}")
    assert choose_runtime("auto", 1, tmp_path, "c") == "onnxruntime"
    assert choose_runtime("tensorflow", 10 ** 6, tmp_path, "c") == "tensorflow"


def test_auto_falls_back_to_tensorflow_when_onnxruntime_is_absent(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    hidden = ("onnxruntime", "openvino")  # OpenVINO, preferred when present, would be taken instead
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    assert choose_runtime("auto", 10 ** 6, None, "c") == "tensorflow"


def test_unknown_runtime_in_run_options_is_one_line():
    with pytest.raises(OptionError) as error:
        RunOptions(runtime="tvm")
    assert "\n" not in str(error.value) and "auto, tensorflow, onnxruntime" in str(error.value)


@needs_ort
def test_extract_run_with_onnxruntime_stores_tensorflows_features_and_names_the_runtime(dataset, tmp_path):
    tf_store, ort_store = tmp_path / "tf", tmp_path / "ort"
    first = run_extraction(dataset, tf_store, TINY, RunOptions(batch_size=8, runtime="tensorflow"))
    second = run_extraction(dataset, ort_store, TINY, RunOptions(batch_size=8, runtime="onnxruntime"))
    assert first.config.config_id == second.config.config_id and second.extracted == first.extracted > 0
    config_id = first.config.config_id
    assert latest_run_record(StoreLayout(ort_store), config_id).stats["runtime"] == "onnxruntime"
    assert latest_run_record(StoreLayout(tf_store), config_id).stats["runtime"] == "tensorflow"
    from store import FeatureStore

    want, got = FeatureStore(tf_store).view().read("train"), FeatureStore(ort_store).view().read("train")
    assert got.paths == want.paths
    assert ort.disagreement(got.features, want.features) <= 2e-3  # float16 storage on top of 1e-3


@needs_ort
def test_extract_run_refuses_a_different_converted_file_on_its_own_images(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "convert", wrong_convert)
    checked = []
    real_check = ort.CheckedSession.check
    monkeypatch.setattr(ort.CheckedSession, "check", lambda self, batch: checked.append(batch.copy())
                        or real_check(self, batch))
    with pytest.raises(RuntimeUnavailable) as error:
        run_extraction(dataset, tmp_path / "store", TINY, RunOptions(batch_size=8, runtime="onnxruntime"))
    assert "\n" not in str(error.value) and "of the run's images" in str(error.value)
    assert not list((tmp_path / "store").rglob("shard-*.h5")), "no feature of a refused conversion is stored"
    # the check's images are the run's own files, decoded and resized as the run does it
    reference = Extractor.from_options(TINY, runtime="onnxruntime")  # its input path: Pillow + NumPy resize
    decoded = np.stack([reference.load_images([str(p)])[0][0] for p in dataset.rglob("*.png")])
    assert len(checked) == 1 and len(checked[0]) == ort.CHECK_IMAGES
    assert all(any(np.array_equal(image, known) for known in decoded) for image in checked[0])


@needs_ort
def test_augmentation_views_reuse_the_plain_configurations_conversion(dataset, tmp_path, monkeypatch):
    from extract import AugmentSpec, run_views

    store, run = tmp_path / "store", RunOptions(batch_size=8, runtime="onnxruntime")
    plain = run_extraction(dataset, store, TINY, run)
    calls = []
    monkeypatch.setattr(ort, "convert", lambda *args: calls.append(args))
    summaries = run_views(2, AugmentSpec(), dataset, store, TINY, run)  # a fresh extractor, 2 new view configs
    assert [s.extracted for s in summaries[1:]] == [12, 12] and summaries[0].extracted == 0
    assert calls == [], "a view runs the same base: the plain configuration's conversion is reused"
    assert len({s.config.config_id for s in summaries}) == 3
    converted = sorted(p.parent.parent.parent.name for p in store.rglob(ort.RECORD_FILE))  # configs/<id>/runtimes/onnxruntime
    assert converted == [plain.config.config_id]


@needs_ort
def test_the_run_record_keeps_the_agreement_check(dataset, tmp_path):
    summary = run_extraction(dataset, tmp_path / "store", TINY, RunOptions(batch_size=8, runtime="onnxruntime"))
    stats = latest_run_record(StoreLayout(tmp_path / "store"), summary.config.config_id).stats
    check = stats["runtime_check"]
    assert check["on"] == "the run's images" and check["images"] == ort.CHECK_IMAGES
    assert check["max_difference"] <= check["tolerance"] == ort.TOLERANCE
    assert stats["runtimes"] == summary.runtimes and len(summary.runtimes) == 1
    assert list(summary.runtimes.values())[0].startswith("onnxruntime (model.onnx sha256 ")


@needs_ort
def test_auto_falls_back_to_tensorflow_in_one_note_when_the_conversion_disagrees(dataset, tmp_path, monkeypatch):
    from extract.runtimes import choice

    def broken_convert(extractor, path):
        raise RuntimeUnavailable("The base does not convert to ONNX: op Foo. Received: --runtime onnxruntime")

    monkeypatch.setattr(choice, "AUTO_MIN_IMAGES", 1)
    monkeypatch.setattr(ort, "convert", broken_convert)
    summary = run_extraction(dataset, tmp_path / "store", TINY, RunOptions(batch_size=8, runtime="auto"))
    notes = [note for note in summary.notes if note.code == "runtime-fallback"]
    assert summary.extracted > 0 and len(notes) == 1 and "TensorFlow instead" in notes[0].message
    record = latest_run_record(StoreLayout(tmp_path / "store"), summary.config.config_id)
    assert record.stats["runtime"] == "tensorflow"
    with pytest.raises(RuntimeUnavailable):  # asked for explicitly: refused, nothing computed
        run_extraction(dataset, tmp_path / "other", TINY, RunOptions(batch_size=8, runtime="onnxruntime"))
