"""Compute precision (issue 13): float32 unless --mixed-precision, which is a configuration of its
own; the dtype policy scoped to building the base; float32 preprocessing and resizing; non-finite
features refused with the file named and never stored.

The mixed-precision path is forced on this CPU as a GPU worker would take it (the environment
switch that allows it without a GPU); everything else is what a GPU run does.
"""
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from extract import ExtractError, Extractor, RunOptions, run_extraction
from extract import devices, runner
from extract.writer import ShardWriter
from store import FeatureStore
from store.layout import StoreLayout
from store.runs import latest_run_record
from tests.conftest import TINY

MIXED = dataclasses.replace(TINY, mixed_precision=True)


@pytest.fixture
def as_on_a_gpu(monkeypatch):
    monkeypatch.setenv(devices.ALLOW_CPU_MIXED_ENV, "1")


def global_policy() -> str:
    import keras

    return keras.mixed_precision.global_policy().name


def test_mixed_precision_is_a_configuration_of_its_own():
    plain, mixed = Extractor.from_options(TINY).config, Extractor.from_options(MIXED).config
    assert plain.compute == "float32" and "compute" not in plain.identity
    assert mixed.compute == "mixed_float16" and mixed.identity["compute"] == "mixed_float16"
    assert mixed.config_id != plain.config_id


def test_mixed_extraction_restores_the_policy_and_keeps_inputs_float32(as_on_a_gpu, dataset, tmp_path):
    assert global_policy() == "float32"
    summary = run_extraction(dataset, tmp_path / "store", MIXED, RunOptions(batch_size=8))
    assert global_policy() == "float32", "the mixed policy must not outlive the build"
    assert summary.extracted == 24 and summary.config.compute == "mixed_float16"
    record = json.loads((tmp_path / "store" / "configs" / summary.config.config_id / "config.json").read_text())
    assert record["compute"] == "mixed_float16"
    run = latest_run_record(StoreLayout(tmp_path / "store"), summary.config.config_id)
    assert run.stats["compute"] == "mixed_float16" and run.stats["devices"] == {"local CPU": "CPU"}
    assert run.devices == ["CPU"] and summary.devices == {"local CPU": "CPU"}

    extractor = Extractor.from_options(MIXED).build()
    assert global_policy() == "float32"
    model = extractor.model
    preprocess = next(layer for layer in model.layers if layer.name.startswith("preprocess_"))
    base = next(layer for layer in model.layers if layer.name.startswith("mobilenet"))
    assert preprocess.compute_dtype == "float32"
    assert base.get_layer("conv1").compute_dtype == "float16", "the base itself computes in float16"
    assert extractor.resizing_layer().compute_dtype == "float32"
    images, _, _ = extractor.load_images(list(dataset.rglob("*.png"))[:2])
    assert images.dtype == np.float32
    from extract.pipeline import image_batches

    batch = next(iter(image_batches([str(p) for p in dataset.rglob("*.png")][:2], 32, "squash", 2,
                                    {"view": 0, "flip": True, "rotation": 0.1, "zoom": 0.1, "shift": 0.1,
                                     "seed": 0})))
    assert batch[0].dtype.name == "float32", "augmented views are computed in float32 too"
    features = extractor.features(images)
    plain = Extractor.from_options(TINY).features(images)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert not np.array_equal(features, plain), "float16 compute gives other numbers: hence its own id"
    np.testing.assert_allclose(features, plain, atol=0.05 * float(np.abs(plain).max()))


def test_mixed_precision_without_a_gpu_is_refused_before_anything_is_written(dataset, tmp_path, monkeypatch):
    monkeypatch.delenv(devices.ALLOW_CPU_MIXED_ENV, raising=False)
    with pytest.raises(ExtractError, match="--mixed-precision computes on GPUs; node .* has none visible"):
        run_extraction(dataset, tmp_path / "store", MIXED, RunOptions(batch_size=8))
    assert not (tmp_path / "store").exists()
    assert global_policy() == "float32"


class Overflowing:
    """A built extractor whose model gives inf for white images, as a float16 overflow would."""

    def __init__(self, real):
        self.real, self.config = real, real.config

    def infer(self, images):
        out = np.array(self.real.infer(images), np.float32)
        white = np.asarray(images).reshape(len(out), -1).min(axis=1) >= 250
        out[white] = np.inf
        return out


def test_a_non_finite_row_is_refused_with_its_file_and_never_stored(as_on_a_gpu, dataset, tmp_path, monkeypatch):
    Image.new("RGB", (40, 48), (255, 255, 255)).save(dataset / "train" / "cats" / "white.png")
    real = runner.worker_extractor
    monkeypatch.setattr(runner, "worker_extractor", lambda config, xla, *rest: Overflowing(real(config, xla, *rest)))
    summary = run_extraction(dataset, tmp_path / "store", MIXED, RunOptions(batch_size=8))
    reasons = dict(summary.rejected)
    assert list(reasons) == ["train/cats/white.png"]
    assert reasons["train/cats/white.png"].startswith("features not finite (")
    assert "mixed_float16" in reasons["train/cats/white.png"]
    assert summary.extracted == 24
    view = FeatureStore(tmp_path / "store").view()
    assert dict(view.rejected()) == reasons
    assert np.isfinite(view.read("train").features).all() and view.split_counts()["train"] == 12


def test_the_writer_never_stores_a_non_finite_row(tmp_path):
    writer = ShardWriter(tmp_path, "mobilenet-x", "float16", (2,), 8)
    with pytest.raises(ValueError, match="Features of /data/x.png are not finite"):
        writer.add("ab" * 32, np.array([1.0, np.nan], np.float32), "/data/x.png")
    with pytest.raises(OverflowError, match="Features of /data/y.png overflow float16"):
        writer.add("cd" * 32, np.array([1.0, 1e6], np.float32), "/data/y.png")
    writer.close()
    assert writer.shards == []


def test_memory_growth_is_on_unless_the_user_said_otherwise(monkeypatch):
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    devices.prepare_tensorflow()
    import os

    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "false")
    devices.prepare_tensorflow()
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"
    assert devices.device_label() == "CPU"
