"""Predict and export: stored features reused, new images through the backbone, the exported model
agreeing with `heads predict`, linear heads folded exactly, and heads refused on another configuration."""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest

from extract import Extractor
from heads.artifact import load_head
from heads.errors import HeadError
from heads.evaluate import eval_head
from heads.export import export_head
from heads.fit import fit_head
from heads.inputs import HeadInputs
from heads.kinds.linear import keras_layers, linear_form
from heads.kinds.reduce import reduce_features
from heads.kinds.registry import make_head
from heads.predict import predict_images
from store import FeatureStore
from tests.test_heads_support import binary_store, features, multi_store, new_images, pooled_store  # noqa: F401

DENSE_FAST = {"epochs": 15, "batch_size": 8, "hidden": (32,), "patience": 0, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def logreg_head(binary_store, tmp_path_factory):
    return fit_head(binary_store, "logreg", out=tmp_path_factory.mktemp("heads") / "logreg").folder


@pytest.fixture(scope="module")
def new_folder(tmp_path_factory):
    return new_images(tmp_path_factory.mktemp("new"), classes=("cats", "dogs"), count=3)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind,params", [("logreg", {}), ("svm", {"kernel": "linear"}), ("sgd", {})])
def test_linear_heads_fold_into_one_exact_dense_layer(kind, params, n_classes):
    X, y = features(n_per_class=20, n_classes=n_classes, seed=11, spread=1.5)
    head = make_head(kind, params, seed=0).fit(X, y)
    form = linear_form(head)
    reduced = reduce_features(X, "flatten")
    # float64 here, float32 in the fitted pipeline: equal to float32 rounding
    np.testing.assert_allclose(form.predict_proba(reduced), head.predict_proba(X), atol=1e-6)
    inputs = keras.Input((reduced.shape[1],))
    model = keras.Model(inputs, keras_layers(form, inputs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(reduced)), head.predict_proba(X), atol=2e-5)


def test_non_linear_heads_are_not_folded():
    X, y = features(n_per_class=10)
    for kind, params in (("svm", {"kernel": "rbf"}), ("knn", {}), ("sgd", {"loss": "hinge"})):
        with pytest.raises(HeadError, match="(rbf|not a linear head|log_loss)"):
            linear_form(make_head(kind, params).fit(X, y))


def test_predict_reuses_stored_features_and_computes_new_ones(binary_store, logreg_head, new_folder, tmp_path):
    view = FeatureStore(binary_store).view()
    stored_path = view.index.data_root + "/" + view.index.paths[0]
    copy = shutil.copy(stored_path, tmp_path / "renamed.png")  # same content, new name: still stored
    out = tmp_path / "predictions.csv"
    predictions = predict_images(logreg_head, [new_folder, stored_path, copy], out=out, top=2, keep=False)
    sources = {p.path: p.features for p in predictions}
    assert sources[stored_path] == "store" and sources[str(copy)] == "store"
    fresh = [p for p in predictions if p.features == "computed"]
    assert len(fresh) == 6
    for p in fresh:  # new images of each colour land in their folder's class
        assert p.classes[0] == ("cats" if "/cats/" in p.path else "dogs")
        assert p.probabilities[0] >= p.probabilities[1] and abs(sum(p.probabilities) - 1) < 1e-6
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and rows[0].keys() >= {"path", "sha256", "class_1", "probability_1", "class_2"}


def test_inputs_rebuilt_from_the_record_reproduce_stored_features(binary_store, logreg_head, monkeypatch):
    view = FeatureStore(binary_store).view()
    inputs = load_head(logreg_head).inputs
    paths = [view.index.data_root + "/" + p for p in view.index.paths[:4]]
    (computed,), hashes, reasons = inputs.compute(paths, batch_size=4)
    assert reasons == [""] * 4 and hashes == view.index.hashes[:4]
    np.testing.assert_allclose(computed, view.features_for(hashes).astype(np.float32), atol=1e-2, rtol=1e-2)
    inputs.check_reproduces([view], paths[0], hashes[0])  # passes
    real = Extractor.features_of_files

    def shifted(self, *args, **kwargs):
        features, digests, why = real(self, *args, **kwargs)
        return np.asarray(features) + 1.0, digests, why

    monkeypatch.setattr(Extractor, "features_of_files", shifted)
    with pytest.raises(HeadError, match="does not reproduce configuration"):
        inputs.check_reproduces([view], paths[0], hashes[0])


def test_changed_weights_are_refused(logreg_head):
    config = load_head(logreg_head).inputs.configs[0]
    tampered = dataclasses.replace(config, weights_sha256="0" * 64)
    with pytest.raises(HeadError, match="Cannot rebuild the head's input: .*0000"):
        HeadInputs((tampered,)).extractors()


# `heads predict` rounds the features it computes through the store's float16; the export computes them in
# float32 all the way, in each format's own kernels: probabilities agree to 1e-3 (measured: ~2e-5).
PREDICT_TOLERANCE = 1e-3


def run_exported(fmt: str, folder):
    """The export folder's model in its own runtime, as a deployer loads it: float32 images -> probabilities."""
    from tests.test_export_formats import load_in_runtime

    model_file = {"keras": "model.keras", "savedmodel": "saved_model", "tflite": "model.tflite",
                  "onnx": "model.onnx"}[fmt]
    return load_in_runtime(fmt, folder / model_file)


def agree_with_predict(head, folder, fmt: str, images_folder) -> int:
    """Every image of the folder through the exported model (resized as extraction does) against `heads predict`."""
    loaded = load_head(head)
    predictions = predict_images(head, [images_folder], top=len(loaded.columns), keep=False)
    paths = [p.path for p in predictions]
    pixels, _, reasons = loaded.inputs.extractors()[0].load_images(paths)
    assert reasons == [""] * len(paths)
    got = run_exported(fmt, folder)(pixels)
    for p, row in zip(predictions, got):
        expected = [p.probabilities[p.classes.index(name)] for name in loaded.columns]
        np.testing.assert_allclose(row, expected, atol=PREDICT_TOLERANCE)
        assert loaded.columns[int(np.argmax(row))] == p.classes[0]
    return len(predictions)


@pytest.fixture(scope="module")
def exportable_heads(binary_store, multi_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("exportable")
    dense = fit_head(binary_store, "dense", out=root / "dense", **DENSE_FAST).folder
    logreg = fit_head(multi_store, "logreg", out=root / "logreg").folder
    return {"dense": (dense, ("cats", "dogs")), "logreg": (logreg, ("birds", "cats", "dogs"))}


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
@pytest.mark.parametrize("kind", ["dense", "logreg"])
def test_each_format_agrees_with_predict_in_its_runtime(kind, fmt, exportable_heads, tmp_path):
    head, classes = exportable_heads[kind]
    images = new_images(tmp_path / "new", classes=classes, count=2)
    result = export_head(head, tmp_path / "export", check=4, format=fmt)
    assert result.fmt == fmt and result.checked == 4 and result.agreement == 1.0
    assert result.max_difference < PREDICT_TOLERANCE
    assert (tmp_path / "export" / "labels.txt").read_text().splitlines() == load_head(head).columns
    described = json.loads((tmp_path / "export" / "preprocessing.json").read_text())
    size = load_head(head).inputs.configs[0].size
    assert described["input"]["shape"] == [None, size, size, 3] and described["class_names"] == list(classes)
    card = (tmp_path / "export" / "README.md").read_text()
    validation = load_head(head).record["metrics"]["validation"]
    assert "validation accuracy" in card and f"{validation['accuracy']}" in card
    assert agree_with_predict(head, tmp_path / "export", fmt, images) == 2 * len(classes)


def test_keras_export_is_frozen_and_answers_the_same_however_called(exportable_heads, tmp_path):
    """Frozen whole (trainable False): neither BatchNormalization nor Dropout can run in training mode, even
    when a Resizing layer would make a plain `model(x)` call a training call (Keras 3)."""
    head, _ = exportable_heads["dense"]
    export_head(head, tmp_path / "export", check=0)
    model = keras.models.load_model(tmp_path / "export" / "model.keras")
    assert not model.trainable and not model.trainable_weights
    x = np.random.default_rng(0).uniform(0, 255, (3, *model.input_shape[1:])).astype(np.float32)
    first, second = np.asarray(model(x)), np.asarray(model(x))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)


def test_unexportable_head_refused_and_nothing_written(binary_store, tmp_path):
    with pytest.raises(HeadError, match="must give probabilities.*hinge"):  # no probabilities: refused at fit
        fit_head(binary_store, "sgd", params={"loss": "hinge"}, out=tmp_path / "hinge")
    assert not (tmp_path / "hinge").exists()
    head = fit_head(binary_store, "sgd", params={"loss": "modified_huber"}, out=tmp_path / "sgd").folder
    with pytest.raises(HeadError, match="An sgd head exports only with loss='log_loss'.*modified_huber"):
        export_head(head, tmp_path / "export")
    assert not (tmp_path / "export").exists()
    with pytest.raises(HeadError, match="Unknown export format. Allowed: keras, savedmodel, tflite, onnx"):
        export_head(head, tmp_path / "export", format="pb")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    with pytest.raises(HeadError, match="not empty"):
        export_head(head, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]


def test_head_refused_on_a_store_of_another_configuration(logreg_head, pooled_store, new_folder, tmp_path):
    out = tmp_path / "predictions.csv"
    with pytest.raises(HeadError, match="was trained on configuration .* but store .* holds .*Refusing"):
        predict_images(logreg_head, [new_folder], store=pooled_store, out=out)
    assert not out.exists()
    with pytest.raises(HeadError, match="was trained on configuration"):
        eval_head(logreg_head, "validation", store=pooled_store)
    with pytest.raises(HeadError, match="was trained on configuration"):
        export_head(logreg_head, tmp_path / "export", store=pooled_store)
    assert not (tmp_path / "export").exists()


def test_predict_input_refusals(logreg_head, tmp_path):
    with pytest.raises(HeadError, match="No such file or folder"):
        predict_images(logreg_head, [tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeadError, match="No images found"):
        predict_images(logreg_head, [tmp_path / "empty"])
    with pytest.raises(HeadError, match="Unknown output format 'txt'"):
        predict_images(logreg_head, [tmp_path], out=tmp_path / "p.txt")


def test_unreadable_image_is_reported_not_fatal(logreg_head, new_folder, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really")
    predictions = predict_images(logreg_head, [new_folder, broken], keep=False)
    failed = [p for p in predictions if p.error]
    assert [p.path for p in failed] == [str(broken)] and failed[0].classes == []
    assert sum(p.features == "computed" for p in predictions) == 6


def test_predict_refuses_a_backbone_that_does_not_reproduce_the_store(logreg_head, binary_store, new_folder,
                                                                    monkeypatch, tmp_path):
    real = Extractor.features_of_files

    def shifted(self, *args, **kwargs):
        features, digests, why = real(self, *args, **kwargs)
        return np.asarray(features) + 0.5, digests, why

    monkeypatch.setattr(Extractor, "features_of_files", shifted)
    view = FeatureStore(binary_store).view()
    stored = view.index.data_root + "/" + view.index.paths[0]
    out = tmp_path / "predictions.csv"
    with pytest.raises(HeadError, match="does not reproduce configuration"):
        predict_images(logreg_head, [new_folder, stored], out=out, keep=False)
    assert not out.exists()
