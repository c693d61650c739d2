"""`--quantize int8` (issue 19): an int8 base is a configuration of its own, calibrated on train images
(recorded), made once in the store and only read after that; everything else refused in one line."""
import dataclasses
import importlib.util
import json
import shutil

import pytest

from extract import Extractor, RunOptions, run_extraction
from extract.errors import OptionError
from extract.runtimes import RuntimeUnavailable
from extract.runtimes import int8
from store import FeatureStore
from store.layout import StoreLayout
from store.runs import latest_run_record
from tests.conftest import TINY, make_dataset

INT8 = dataclasses.replace(TINY, quantize="int8")
needs_int8 = pytest.mark.skipif(int8.Int8Runtime().unavailable() is not None,
                                reason="SKIPPED: openvino, nncf, onnx or tf2onnx not installed (the int8 extra)")


def test_int8_is_a_configuration_of_its_own_and_float_ids_are_untouched():
    plain, quantized = Extractor.from_options(TINY).config, Extractor.from_options(INT8).config
    assert quantized.config_id != plain.config_id and quantized.quantize == "int8"
    assert "quantize" not in plain.to_json() and "quantize" not in plain.identity
    assert dataclasses.replace(quantized, quantize=None).config_id == plain.config_id


def test_bad_quantize_options_are_one_line(dataset, tmp_path):
    with pytest.raises(OptionError) as error:
        Extractor.from_options(dataclasses.replace(TINY, quantize="int4"))
    assert "\n" not in str(error.value) and "'int4'" in str(error.value) and "int8" in str(error.value)
    with pytest.raises(OptionError, match="--mixed-precision is for GPUs"):
        Extractor.from_options(dataclasses.replace(INT8, mixed_precision=True))


def test_a_missing_openvino_is_one_line(dataset, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(RuntimeUnavailable) as error:
        run_extraction(dataset, tmp_path / "store", INT8, RunOptions(batch_size=8))
    message = str(error.value)
    assert "\n" not in message and "missing: openvino" in message and "[int8]" in message
    assert not list((tmp_path / "store").rglob("shard-*.h5"))


@needs_int8
def test_int8_run_calibrates_on_train_images_records_them_and_reuses_its_base(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "data", per_class=6)
    store = tmp_path / "store"
    summary = run_extraction(data, store, INT8, RunOptions(batch_size=8))
    config_id = summary.config.config_id
    assert summary.extracted == 24 and config_id == Extractor.from_options(INT8).config.config_id
    folder = int8.quantized_dir(store, config_id)
    record = json.loads((folder / int8.RECORD).read_text())
    index = FeatureStore(store).dataset(FeatureStore(store).view(config_id).index.name)
    train = sorted(h for h, s in zip(index.hashes, index.splits) if s == "train")
    assert record["calibration"]["hashes"] == train[:int8.CALIBRATION_IMAGES] and len(train) == 12
    stats = latest_run_record(StoreLayout(store), config_id).stats
    assert stats["runtime"] == int8.INT8_RUNTIME and stats["runtime_check"]["min_cosine"] >= int8.MIN_COSINE
    # more images later: the stored int8 base computes them (never quantised again: other numbers)
    monkeypatch.setattr(int8, "quantize", lambda *a: pytest.fail("quantised again"))
    make_dataset(data, per_class=2, seed=5, classes=("birds",))
    grown = run_extraction(data, store, INT8, RunOptions(batch_size=8))
    assert grown.extracted == 4 and grown.cached == 24
    assert json.loads((folder / int8.RECORD).read_text()) == record


@needs_int8
def test_a_damaged_or_removed_int8_base_is_refused_in_one_line(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=3)
    store = tmp_path / "store"
    config_id = run_extraction(data, store, INT8, RunOptions(batch_size=8)).config.config_id
    folder = int8.quantized_dir(store, config_id)
    make_dataset(data, per_class=1, seed=7, classes=("birds",))
    weights = (folder / int8.BIN).read_bytes()
    (folder / int8.BIN).write_bytes(weights[:-1] + bytes([weights[-1] ^ 0xFF]))  # one bit pattern changed
    with pytest.raises(RuntimeUnavailable) as damaged:
        run_extraction(data, store, INT8, RunOptions(batch_size=8))
    assert "\n" not in str(damaged.value) and "sha256" in str(damaged.value)
    shutil.rmtree(folder)  # features exist under the id: quantising again could change their numbers
    with pytest.raises(RuntimeUnavailable) as removed:
        run_extraction(data, store, INT8, RunOptions(batch_size=8))
    assert "\n" not in str(removed.value) and "extract rm" in str(removed.value)
    with pytest.raises(OptionError, match="--runtime does not apply"):
        run_extraction(data, tmp_path / "other", INT8, RunOptions(batch_size=8, runtime="onnxruntime"))
