"""`extract run` end to end on synthetic images with a tiny random-init backbone."""
import dataclasses
import io
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from extract import ExtractOptions, Extractor
from extract.api import StrictModeError, run_extraction
from extract.decode import decode_rgb
from extract.model import resizing_layer
from extract.scan import ScanError
from extract.weights import WeightsError
from store import FeatureStore
from tests.conftest import TINY, TINY_RUN, assert_features_close, make_dataset


def expected_features(extractor, paths):
    """What the features must be: decode, resize and run the model, one image at a time."""
    resize = resizing_layer(extractor.config.size, extractor.config.resize)
    images = np.stack([resize(decode_rgb(Path(p).read_bytes()).astype("float32")).numpy() for p in paths])
    return extractor.model.predict(images, verbose=0)


def test_features_are_aligned_with_labels_and_paths(dataset, tmp_path):
    summary = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    assert summary.extracted == 24 and summary.cached == 0 and not summary.rejected
    view = FeatureStore(tmp_path / "store").view()
    assert view.split_counts() == {"train": 12, "validation": 12}
    split = view.read("validation")
    assert split.class_names == ["cats", "dogs"]
    assert [split.class_names[label] for label in split.labels] == [p.split("/")[1] for p in split.paths]
    want = expected_features(Extractor.from_options(TINY), [dataset / p for p in split.paths])
    assert_features_close(split.features, want, rtol=2e-2)
    batches = list(view.iter_batches("validation", batch_size=5, shuffle=True, seed=1))
    assert [len(b) for b in batches] == [5, 5, 2]
    rows = {p: f for b in batches for p, f in zip(b.paths, b.features)}
    for path, features in zip(split.paths, split.features):
        np.testing.assert_array_equal(rows[path], features)


def test_second_run_extracts_nothing(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, TINY_RUN)
    shards = sorted((store / "configs").rglob("shard-*.h5"))
    again = run_extraction(dataset, store, TINY, TINY_RUN)
    assert again.extracted == 0 and again.cached == 24
    assert sorted((store / "configs").rglob("shard-*.h5")) == shards


def test_grown_dataset_extracts_only_new_images(tmp_path):
    data, store = make_dataset(tmp_path / "d", per_class=3), tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    make_dataset(tmp_path / "d2", per_class=2, seed=5)
    for path in (tmp_path / "d2").rglob("*.png"):
        target = data / path.relative_to(tmp_path / "d2")
        target.with_name("new_" + target.name).write_bytes(path.read_bytes())
    grown = run_extraction(data, store, TINY, TINY_RUN)
    assert (grown.extracted, grown.cached) == (8, 12)
    assert FeatureStore(store).view().split_counts() == {"train": 10, "validation": 10}


def test_renamed_and_relabelled_files_are_not_reextracted(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, TINY_RUN)
    before = FeatureStore(store).view().read("train")
    moved_from = dataset / "train" / "cats" / "cats.train.0.png"
    moved_to = dataset / "train" / "dogs" / "was_a_cat.png"
    shutil.move(moved_from, moved_to)
    summary = run_extraction(dataset, store, TINY, TINY_RUN)
    assert summary.extracted == 0
    after = FeatureStore(store).view().read("train")
    row = after.paths.index("train/dogs/was_a_cat.png")
    assert after.class_names[after.labels[row]] == "dogs"
    np.testing.assert_array_equal(after.features[row], before.features[before.paths.index("train/cats/cats.train.0.png")])


def test_bad_files_are_recorded_and_the_run_goes_on(dataset, tmp_path):
    cats = dataset / "train" / "cats"
    good = (cats / "cats.train.0.png").read_bytes()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buffer, "JPEG")
    (cats / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    (cats / "zero.jpg").write_bytes(b"")
    (cats / "page.jpg").write_text("<html><body>404</body></html>")
    (cats / "half.png").write_bytes(good[:40])
    summary = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    reasons = dict(summary.rejected)
    assert set(reasons) == {"train/cats/truncated.jpg", "train/cats/zero.jpg", "train/cats/page.jpg",
                            "train/cats/half.png"}
    assert "empty" in reasons["train/cats/zero.jpg"] and "not an image" in reasons["train/cats/page.jpg"]
    assert reasons["train/cats/truncated.jpg"].startswith("cannot decode")
    assert summary.extracted == 24
    view = FeatureStore(tmp_path / "store").view()
    assert dict(view.rejected()) == reasons
    assert view.split_counts()["train"] == 12  # no zero vector stands in for a bad file
    again = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    assert again.extracted == 0 and dict(again.rejected) == reasons  # known-bad content is not decoded again


def test_strict_fails_with_the_list_and_writes_nothing(dataset, tmp_path):
    (dataset / "train" / "dogs" / "zero.jpg").write_bytes(b"")
    with pytest.raises(StrictModeError, match="train/dogs/zero.jpg: empty file"):
        run_extraction(dataset, tmp_path / "store", TINY, dataclasses.replace(TINY_RUN, strict=True))
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("change,error", [
    ({"backbone": "vgg17"}, "Unknown backbone 'vgg17'"),
    ({"weights": "/nonexistent/w.h5"}, "Weights file not found"),
    ({"size": 8}, "--size must be 32 to 4096 pixels"),
    ({"size": 100000}, "--size must be 32 to 4096 pixels.*Received: 100000"),
    ({"layer": "conv_pw_99_relu"}, "has no layer 'conv_pw_99_relu'"),
    ({"pool": "median"}, "Unknown pooling 'median'"),
])
def test_bad_options_are_one_clear_error_and_nothing_is_written(dataset, tmp_path, change, error):
    with pytest.raises((ValueError, WeightsError), match=error):
        run_extraction(dataset, tmp_path / "store", dataclasses.replace(TINY, **change), TINY_RUN)
    assert not (tmp_path / "store").exists()


def test_empty_and_single_class_data_write_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError):
        run_extraction(tmp_path / "empty", tmp_path / "store", TINY, TINY_RUN)
    with pytest.raises(ScanError):
        run_extraction(make_dataset(tmp_path / "one", 2, classes=("cats",)), tmp_path / "store", TINY, TINY_RUN)
    assert not (tmp_path / "store").exists()


def test_configurations_live_side_by_side(dataset, tmp_path):
    store = tmp_path / "store"
    spatial = run_extraction(dataset, store, TINY, TINY_RUN)
    pooled = run_extraction(dataset, store, dataclasses.replace(TINY, pool="avg", dtype="float32"), TINY_RUN)
    assert spatial.config.config_id != pooled.config.config_id
    feature_store = FeatureStore(store)
    assert {c.config_id for c in feature_store.configs()} == {spatial.config.config_id, pooled.config.config_id}
    assert feature_store.view(pooled.config.config_id).read("train").features.shape == (12, 16)
    assert feature_store.view(pooled.config.config_id).read("train").features.dtype == np.float32
    with pytest.raises(ValueError, match="Several configurations match"):
        feature_store.select("mobilenet")


def test_store_is_plain_hdf5(dataset, tmp_path):
    summary = run_extraction(dataset, tmp_path / "store", TINY, TINY_RUN)
    shard = next((tmp_path / "store" / "configs" / summary.config.config_id / "shards").glob("*.h5"))
    with h5py.File(shard, "r") as f:
        assert f["features"].shape[1:] == summary.config.feature_shape
        assert len(f["hashes"]) == len(f["features"])


def test_real_mobilenet_weights_match_keras_preprocessing(shared_weights, dataset, tmp_path):
    """The 1 MB ImageNet MobileNet 0.25: our preprocessing layer equals keras preprocess_input."""
    import keras

    weights = shared_weights / "mobilenet_2_5_128_tf_no_top.h5"
    summary = run_extraction(dataset, tmp_path / "store",
                             ExtractOptions("mobilenet", str(weights), size=128, pool="avg", dtype="float32"))
    assert summary.config.alpha == 0.25 and summary.config.preprocess == "tf"
    split = FeatureStore(tmp_path / "store").view().read("train")
    reference = keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25,
                                             input_shape=(128, 128, 3), pooling="avg")
    reference.load_weights(str(weights))
    resize = resizing_layer(128, "squash")
    images = np.stack([resize(decode_rgb((dataset / p).read_bytes()).astype("float32")).numpy()
                       for p in split.paths])
    want = reference.predict(keras.applications.mobilenet.preprocess_input(images), verbose=0)
    np.testing.assert_allclose(split.features, want, rtol=1e-4, atol=1e-4)
    # Real features separate the two colours: nearest class centroid gets the training set right.
    centroids = np.stack([split.features[split.labels == k].mean(0) for k in (0, 1)])
    nearest = np.argmin(((split.features[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == split.labels).mean() == 1.0
