"""`heads finetune` end to end on a tiny seeded MobileNet: both paths train and improve a weak head,
the views are fixed by their seed, bad input is refused before anything is written, and the
fine-tuned head works with list, eval, predict and export like any head."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from extract import AugmentSpec, RunOptions, run_views
from heads.cli import app
from heads.artifact import load_head
from heads.errors import HeadError
from heads.evaluate import eval_head, list_store_heads
from heads.export import export_head
from heads.finetune.data import view_batches
from heads.finetune.run import finetune_head
from heads.fit import fit_head
from heads.predict import predict_images
from store import FeatureStore
from tests.test_heads_predict_export import run_exported
from tests.test_heads_support import (TINY, binary_store, image_folder, multi_store, new_images,  # noqa: F401
                                      private_copy)

FAST = {"blocks": 2, "epochs": 6, "learning_rate": 0.01, "batch_size": 8, "patience": 0, "seed": 0}


@pytest.fixture(scope="module")
def setup(binary_store, tmp_path_factory):
    """A store of its own, its images, a weak dense head (one short epoch), and both fine-tunings of it."""
    root = tmp_path_factory.mktemp("finetune")
    store = private_copy(binary_store, root / "store")
    data = Path(FeatureStore(store).view().index.data_root)
    start = fit_head(store, "dense", epochs=1, learning_rate=1e-3, hidden=(8,), batch_size=8, patience=0, seed=0)
    cached = finetune_head(start.folder, data, path="cached", views=2, **FAST)
    full = finetune_head(start.folder, data, path="full", **FAST, out=root / "full")
    return {"root": root, "store": store, "data": data, "start": start, "cached": cached, "full": full}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("path", ["cached", "full"])
def test_both_paths_train_and_improve_a_weak_head(setup, path):
    start, result = setup["start"].record, setup[path].record
    before, after = start["metrics"]["validation"], result["metrics"]["validation"]
    assert after["log_loss"] < 0.5 * before["log_loss"], (before, after)
    assert after["accuracy"] >= before["accuracy"]
    ft = result["finetune"]
    assert ft["reopened"] == ["block4", "block5"] and ft["cut_layer"] == "conv_pw_3_relu"
    assert ft["trainable_layers"] == ["conv_dw_4", "conv_pw_4", "conv_dw_5", "conv_pw_5"]
    assert ft["path"] == path and ft["epochs_run"] == 6 and len(ft["epoch_seconds"]) == 6
    assert ft["views"] == (2 if path == "cached" else 0) and len(ft["view_configs"] or []) == ft["views"]
    assert ft["from_head"] == start["head_id"]
    assert {"model.keras", "head.json", "rows.h5", "metrics.json", "history.json", "learning_curves.png",
            "confusion_train.png", "confusion_validation.png"} <= _files(setup[path].folder)
    # the head's input: the plain activations at the cut, a configuration of the store
    assert result["inputs"][0]["layer"] == "conv_pw_3_relu" and result["inputs"][0]["augment"] is None
    assert result["config_id"] in {c.config_id for c in FeatureStore(setup["store"]).configs()}
    # the saved top: the reopened blocks moved, its batch norms did not (the frozen part is the extractor's)
    saved = keras.models.load_model(setup[path].folder / "model.keras").get_layer("reopened")
    from tests.test_heads_support import tiny_weights  # the store's weights, rebuilt to compare
    weights = tiny_weights(setup["root"] / f"w-{path}.weights.h5")
    original = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    original.load_weights(weights)
    for layer in saved.layers:
        if layer.weights:
            old = original.get_layer(layer.name).get_weights()
            same = all(np.array_equal(a, b) for a, b in zip(old, layer.get_weights()))
            assert same != (layer.name in ft["trainable_layers"]), layer.name


def test_views_are_fixed_by_their_seed(setup, tmp_path):
    ft = setup["cached"].record["finetune"]
    spec = AugmentSpec(**ft["augment"])
    options = dataclasses.replace(TINY, layer=ft["cut_layer"],
                                  weights=setup["start"].record["inputs"][0]["weights_source"])
    again = run_views(2, spec, setup["data"], tmp_path / "again", options, RunOptions(batch_size=16))
    assert [s.config.config_id for s in again[1:]] == ft["view_configs"]
    for view_id in ft["view_configs"]:
        mine = FeatureStore(setup["store"]).view(view_id).read("train")
        theirs = FeatureStore(tmp_path / "again").view(view_id).read("train")
        assert mine.hashes == theirs.hashes
        np.testing.assert_array_equal(mine.features, theirs.features)
    other = run_views(1, AugmentSpec(**{**ft["augment"], "seed": 1}), setup["data"], tmp_path / "other", options,
                      RunOptions(batch_size=16))[1]
    assert other.config.config_id not in ft["view_configs"]
    first = FeatureStore(tmp_path / "again").view(ft["view_configs"][0]).read("train").features.astype("float32")
    moved = FeatureStore(tmp_path / "other").view(other.config.config_id).read("train").features.astype("float32")
    assert np.abs(first - moved).mean() > 0.05 * np.abs(first).mean()
    # the batch order and the view drawn per image: a function of the seed and the epoch
    x = np.arange(3 * 10, dtype=np.float16).reshape(3, 10, 1)
    one, two = view_batches(x, np.zeros((10, 1)), 4, seed=5), view_batches(x, np.zeros((10, 1)), 4, seed=5)
    np.testing.assert_array_equal(one[0][0], two[0][0])
    epoch0 = np.concatenate([one[i][0] for i in range(len(one))])
    one.on_epoch_end()
    assert not np.array_equal(epoch0, np.concatenate([one[i][0] for i in range(len(one))]))
    assert sorted(epoch0.ravel() % 10) == list(range(10))  # every image once per epoch, one view each


def test_bad_input_is_refused_before_anything_is_written(setup, multi_store, tmp_path):
    store, start = setup["store"], setup["start"].folder
    logreg = fit_head(store, "logreg", config=setup["start"].record["config_id"], out=tmp_path / "logreg").folder
    other_classes = Path(FeatureStore(multi_store).view().index.data_root)
    before = _files(store)
    cases = [
        ({"head": logreg}, "Fine-tuning starts from a dense head .* is a logreg head"),
        ({"blocks": 6}, r"--blocks must be 1 to 5: mobilenet has 5 blocks up to conv_pw_5_relu .*Received: --blocks 6"),
        ({"data": other_classes}, "36 of the 36 files of dataset data-binary are not under .*data-multi as indexed"),
        ({"blocks": 5}, "--blocks 5 reopens every block of mobilenet up to conv_pw_5_relu: nothing frozen is left"),
        ({"path": "full", "views": 3}, "--views caches fixed augmented views for --path cached"),
        ({"epochs": 0}, "--epochs must be an integer of at least 1"),
    ]
    for change, message in cases:
        options = {"head": start, "data": setup["data"], "out": tmp_path / "out", **change}
        with pytest.raises(HeadError, match=message):
            finetune_head(**options)
    assert _files(store) == before and not (tmp_path / "out").exists()
    runner = CliRunner()
    result = runner.invoke(app, ["finetune", "--head", str(start), "--data", str(other_classes), "--blocks", "1"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 3 and len(lines) == 1 and "are not under" in lines[0], result.stderr
    assert _files(store) == before


def test_a_finetuned_head_is_listed_evaluated_predicted_and_exported(setup, tmp_path):
    cached, full, start = setup["cached"], setup["full"], setup["start"]
    rows = {row["head_id"]: row for row in list_store_heads(setup["store"])}
    assert rows[cached.head_id]["kind"] == "finetune" and start.head_id in rows
    assert rows[cached.head_id]["user_params"] == {"from": start.head_id, "blocks": 2, "path": "cached", "views": 2}

    for tuned in (cached, full):  # both read their input, the activations at the cut, from the store
        evaluated = eval_head(tuned.folder, "validation")
        assert evaluated["log_loss"] == pytest.approx(tuned.record["metrics"]["validation"]["log_loss"], rel=2e-2)
    # a store without the activations at the cut is refused in one line (the old features are stale for it)
    bare = private_copy(setup["store"], tmp_path / "bare")
    for config in FeatureStore(bare).configs():
        if config.layer == "conv_pw_3_relu":
            import shutil
            shutil.rmtree(bare / "configs" / config.config_id)
    with pytest.raises(HeadError, match="was trained on configuration .*conv_pw_3_relu"):
        eval_head(full.folder, "validation", store=bare)

    view = FeatureStore(setup["store"]).view(start.record["config_id"], start.record["data"]["dataset"])
    stored = setup["data"] / view.index.paths[0]
    images = new_images(tmp_path / "new", count=2)
    predictions = predict_images(cached.folder, [images, stored], top=2, keep=False)
    assert sorted(p.features for p in predictions) == ["computed"] * 4 + ["store"]
    start_proba = start.estimator.predict_proba(view.features_for([view.index.hashes[0]]).astype(np.float32))[0]
    loaded = load_head(cached.folder)
    pixels, _, _ = loaded.inputs.extractors()[0].load_images([p.path for p in predictions])  # resized as extraction
    for fmt in ("keras", "tflite"):  # the fine-tuned blocks and the head, in Keras and in another runtime
        exported = export_head(cached.folder, tmp_path / fmt, check=4, format=fmt)
        assert exported.checked == 4 and exported.max_difference < 1e-3
        got = run_exported(fmt, tmp_path / fmt)(pixels)
        for p, row in zip(predictions, got):
            np.testing.assert_allclose(row, [p.probabilities[p.classes.index(c)] for c in ("cats", "dogs")], atol=1e-3)
            if p.features == "store":  # the fine-tuned base's answer, not the stale features of the old one
                assert abs(row[1] - start_proba[1]) > 0.05


def test_the_cli_session(setup, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["finetune", "--head", setup["start"].head_id, "--store", str(setup["store"]),
                                 "--data", str(setup["data"]), "--blocks", "1", "--views", "1", "--epochs", "2",
                                 "--learning-rate", "0.01", "--out", str(tmp_path / "ft")])
    assert result.exit_code == 0, result.output
    assert "reopened" in result.stdout and "block5" in result.stdout and "validation (12)" in result.stdout
    record = json.loads((tmp_path / "ft" / "head.json").read_text())
    assert record["finetune"]["blocks"] == 1 and record["finetune"]["cut_layer"] == "conv_pw_4_relu"
    listed = runner.invoke(app, ["list", "--store", str(setup["store"])])
    assert listed.exit_code == 0 and "finetune-" in listed.stdout


def test_exported_models_answer_the_same_however_called(setup, tmp_path):
    """Keras 3 lets a Resizing layer (whose call defaults to training=True) switch a nested model after
    it to training mode when the whole is called as model(x): exports must answer the same anyway."""
    dense = fit_head(setup["store"], "dense", config=setup["start"].record["config_id"], epochs=2, batch_size=8,
                     hidden=(8,), dropout=0.5, patience=0, out=tmp_path / "dense")
    for name, head in (("dense", dense.folder), ("finetuned", setup["cached"].folder)):
        pixels, _, _ = load_head(head).inputs.extractors()[0].load_images([str(next(setup["data"].rglob("*.png")))])
        export_head(head, tmp_path / f"{name}-export", check=0)
        model = keras.models.load_model(tmp_path / f"{name}-export" / "model.keras")
        first, second = np.asarray(model(pixels)), np.asarray(model(pixels))
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-7)
