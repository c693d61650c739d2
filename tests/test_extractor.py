"""The public Extractor: identity without a model, the same numbers as extraction, refusals."""
import dataclasses
import socket

import numpy as np
import pytest

from extract import ExtractError, ExtractOptions, Extractor, RunOptions, run_extraction
from extract.runner import ShardTask, forget_extractors, run_task
from extract.weights import WeightsError
from store import FeatureStore
from store.config import ExtractorConfig
from tests.conftest import SYNTHETIC_WEIGHTS, TINY, TINY_RUN, assert_features_close

# Computed with the code before compute precision joined the identity: float32 ids must never move.
TINY_ID = "mobilenet-f27251443fec"
VGG16_150_ID = "vgg16-5a586a0ea3e5"  # VGG16 at 150 px, ../shared's torchvision weights, float16 storage
VGG16_SHA = "8b6877c6079bef72a9b272c98c118772afe10b2a974b65f1d1dc7bb07b7e4d4d"


def test_float32_configuration_ids_do_not_change():
    extractor = Extractor.from_options(TINY)
    assert extractor.config.config_id == TINY_ID and not extractor.built  # identity without a model
    vgg = ExtractorConfig(backbone="vgg16", weights_sha256=VGG16_SHA, preprocess="torch", size=150, layer="block5_pool")
    assert vgg.config_id == VGG16_150_ID and "compute" not in vgg.identity


def test_real_vgg16_identity_comes_from_the_file_alone(shared_weights):
    options = ExtractOptions("vgg16", str(shared_weights / "vgg16_imagenet_torchvision_notop.h5"), size=150)
    extractor = Extractor.from_options(options)
    assert extractor.config.config_id == VGG16_150_ID and not extractor.built


def test_option_objects_an_extractor_and_a_configuration_are_the_same_run(dataset, tmp_path):
    summary = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    assert summary.config.config_id == TINY_ID and summary.extracted == 24
    assert summary.devices == {"local CPU": "CPU"}
    again = run_extraction(dataset, tmp_path / "store", Extractor.from_options(TINY), TINY_RUN)
    assert again.config.config_id == TINY_ID and again.cached == 24
    from_config = run_extraction(dataset, tmp_path / "store", summary.config)
    assert from_config.cached == 24 and from_config.devices == {}  # nothing ran: no device to name
    with pytest.raises(TypeError, match="batch"):
        RunOptions(batch=3)  # an unknown option is refused by the option object itself
    with pytest.raises(TypeError, match="extractor is ExtractOptions, ExtractorConfig or Extractor"):
        run_extraction(dataset, tmp_path / "store", "mobilenet")  # the former loose form is refused


def test_features_are_what_the_store_holds(dataset, tmp_path):
    run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    view = FeatureStore(tmp_path / "store").view()
    split = view.read("train")
    extractor = Extractor.from_config(view.config)
    features, hashes, reasons = extractor.features_of_files([dataset / p for p in split.paths], batch_size=5)
    assert features.dtype == np.float32 and not any(reasons)
    assert hashes == list(view.keys("train")[0])
    assert_features_close(features, split.features, rtol=1e-3)
    np.testing.assert_array_equal(features, features.astype("float16").astype("float32"))  # rounded as stored
    images, _, _ = extractor.load_images([dataset / p for p in split.paths[:3]])
    assert images.dtype == np.float32 and images.shape == (3, 32, 32, 3) and images.max() > 1
    np.testing.assert_array_equal(extractor.features(images), features[:3])


def test_unusable_files_have_a_reason_and_zero_rows(dataset, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    extractor = Extractor.from_options(TINY)
    paths = [tmp_path / "empty.png", next(dataset.rglob("*.png"))]
    features, hashes, reasons = extractor.features_of_files(paths)
    assert reasons[0].startswith("empty") and not reasons[1] and hashes[1]
    assert not features[0].any() and features[1].any()


def test_derive_keeps_the_weights_and_changes_the_configuration():
    extractor = Extractor.from_options(TINY).build()
    pooled = extractor.derive(pool="avg")
    assert pooled.config.weights_sha256 == extractor.config.weights_sha256
    assert pooled.config.config_id != extractor.config.config_id and pooled.config.feature_shape == ()
    assert pooled.build().config.feature_shape == (16,)
    view = extractor.derive(augment={"view": 0, "flip": True, "rotation": 0.1, "zoom": 0.1, "shift": 0.1, "seed": 0})
    assert view.config.feature_shape == extractor.config.feature_shape and view.built
    with pytest.raises(ExtractError, match="derive\\(\\) changes only"):
        extractor.derive(weights_sha256="x")


def test_a_configuration_whose_shape_the_model_does_not_give_is_refused():
    config = dataclasses.replace(Extractor.from_options(TINY).config, feature_shape=(7, 7, 7))
    with pytest.raises(ExtractError, match="gives features of shape \\(16, 16, 16\\).*holds \\(7, 7, 7\\)"):
        Extractor.from_config(config).build()


def test_from_config_refuses_weights_that_changed(synthetic_weights):
    path = synthetic_weights / SYNTHETIC_WEIGHTS
    config = Extractor.from_options(ExtractOptions("mobilenet", str(path), size=32, layer="conv_pw_1_relu")).config
    path.write_bytes(path.read_bytes() + b"another file at the same path")
    with pytest.raises(WeightsError, match=f"node {socket.gethostname()}.*{config.weights_sha256}"):
        Extractor.from_config(config)


def test_a_worker_checks_the_weights_it_loads(synthetic_weights, dataset, tmp_path):
    """The task says sha256 A, the file at the path now holds B: the worker refuses, naming its
    node and both hashes, and writes nothing."""
    path = synthetic_weights / SYNTHETIC_WEIGHTS
    config = Extractor.from_options(ExtractOptions("mobilenet", str(path), size=32, layer="conv_pw_1_relu")).config
    path.write_bytes(path.read_bytes() + b"replaced on this node")
    from store.shards import file_sha256

    other = file_sha256(path)
    task = ShardTask(str(tmp_path / "store"), config, tuple(str(p) for p in dataset.rglob("*.png")), 8, 8, False)
    forget_extractors()  # as a fresh worker process: nothing built yet
    with pytest.raises(WeightsError) as refused:
        run_task(task)
    message = str(refused.value)
    assert socket.gethostname() in message and config.weights_sha256 in message and other in message
    assert "\n" not in message
    assert not list(tmp_path.rglob("shard-*.h5"))
