"""Ensembles: heads on the same classes made one head (mean or stacked), listed, evaluated, predicted, exported."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from heads.artifact import load_head
from heads.ensemble import ensemble_heads
from heads.errors import HeadError
from heads.evaluate import eval_head, list_store_heads
from heads.fit import fit_head
from heads.predict import predict_images
from store import FeatureStore
from tests.test_heads_support import (binary_store, joined_store, multi_store, new_images,  # noqa: F401
                                      private_copy)


def test_an_ensemble_of_one_head_is_that_head(binary_store, tmp_path):
    store = private_copy(binary_store, tmp_path / "store")
    single = fit_head(store, "logreg", out=tmp_path / "logreg")
    ensemble = ensemble_heads([single.folder], out=tmp_path / "ensemble")
    assert ensemble.record["kind"] == "ensemble"
    for split in ("train", "validation"):
        assert ensemble.record["metrics"][split] == pytest.approx(single.record["metrics"][split])
    images = new_images(tmp_path / "new", count=2)
    for a, b in zip(predict_images(single.folder, [images], keep=False),
                    predict_images(ensemble.folder, [images], keep=False)):
        assert a.classes == b.classes and a.probabilities == pytest.approx(b.probabilities, abs=1e-9)
    assert eval_head(ensemble.folder)["log_loss"] == pytest.approx(eval_head(single.folder)["log_loss"])


def test_mean_of_two_backbones_heads_exports_one_model_and_survives_its_members(joined_store, tmp_path):
    import keras

    from heads.export import export_head

    store = private_copy(joined_store["store"], tmp_path / "store")
    first, second = joined_store["first"], joined_store["second"]
    dataset = joined_store["dataset"]
    a = fit_head(store, "logreg", config=first.config_id, dataset=dataset)
    b = fit_head(store, "dense", config=second.config_id, dataset=dataset, epochs=10, batch_size=8, hidden=(16,),
                 patience=0)
    result = ensemble_heads([a.head_id, b.head_id], store=store)
    record = result.record
    assert [c["config_id"] for c in record["inputs"]] == [first.config_id, second.config_id]
    assert [m["head_id"] for m in record["members"]] == [a.head_id, b.head_id]
    assert result.folder.parent == store / "heads" and record["exportable"]

    loaded = load_head(result.folder)
    views = loaded.inputs.views(store, dataset)
    hashes = [h for h in FeatureStore(store).view(second.config_id).catalog.rows][:6]
    parts = loaded.inputs.stored(views, hashes)
    expected = (load_head(a.folder).predict_proba(parts[:1]) + load_head(b.folder).predict_proba(parts[1:])) / 2
    np.testing.assert_allclose(loaded.predict_proba(parts), expected, atol=1e-9)

    exported = export_head(result.folder, tmp_path / "ensemble.keras", check=4)
    assert exported.checked == 4 and exported.max_difference <= 0.02
    model = keras.models.load_model(exported.path)
    assert {"member_1", "member_2"} <= {layer.name for layer in model.layers}

    shutil.rmtree(a.folder)  # the ensemble holds copies of its members
    listed = {row["head_id"]: row for row in list_store_heads(store)}
    assert listed[result.head_id]["kind"] == "ensemble" and a.head_id not in listed
    assert eval_head(result.folder)["accuracy"] == pytest.approx(record["metrics"]["validation"]["accuracy"])


def test_stacking_fits_on_out_of_fold_train_probabilities_only(binary_store, tmp_path, monkeypatch):
    store = private_copy(binary_store, tmp_path / "store")
    a = fit_head(store, "logreg", out=tmp_path / "a")
    b = fit_head(store, "knn", params={"n_neighbors": 3}, out=tmp_path / "b")
    seen = []
    from heads.kinds import models

    real = models.EstimatorModel.fit_clone

    def spy(self, parts, labels):
        seen.append(len(labels))
        return real(self, parts, labels)

    monkeypatch.setattr(models.EstimatorModel, "fit_clone", spy)
    result = ensemble_heads([a.folder, b.folder], method="stack", cv=3, out=tmp_path / "stack")
    assert seen == [16] * 6  # 2 members x 3 folds, each on 2/3 of the 24 train rows
    search = result.record["search"]
    assert search["split"] == "train" and len(search["member_oof_accuracy"]) == 2
    assert result.record["selection"]["on"] == "train split, 3-fold out-of-fold probabilities"
    stacked = load_head(result.folder)
    assert stacked.model.method == "stack" and (result.folder / "stacker.skops").is_file()
    assert result.record["metrics"]["validation"]["accuracy"] >= 0.9


def test_members_are_matched_by_class_name_and_mismatches_refused(multi_store, binary_store, tmp_path):
    store = private_copy(multi_store, tmp_path / "store")
    head = fit_head(store, "logreg", out=tmp_path / "head")
    shuffled = tmp_path / "shuffled"
    shutil.copytree(head.folder, shuffled)
    record = json.loads((shuffled / "head.json").read_text())
    assert record["columns"] == ["birds", "cats", "dogs"]
    # the same member twice under another id; an ensemble of it and itself is itself
    record["head_id"] = "logreg-copy"
    (shuffled / "head.json").write_text(json.dumps(record))
    result = ensemble_heads([head.folder, shuffled], out=tmp_path / "pair")
    assert result.record["metrics"]["validation"] == pytest.approx(head.record["metrics"]["validation"])

    other = fit_head(private_copy(binary_store, tmp_path / "binary"), "logreg", out=tmp_path / "binary-head")
    with pytest.raises(HeadError, match="one dataset|share their classes"):
        ensemble_heads([head.folder, other.folder], out=tmp_path / "bad")
    with pytest.raises(HeadError, match="Each head once"):
        ensemble_heads([head.folder, head.folder], out=tmp_path / "twice")
    with pytest.raises(HeadError, match="Unknown ensemble method"):
        ensemble_heads([head.folder], method="vote", out=tmp_path / "vote")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "twice").exists()


def test_cli_ensemble_and_kinds(binary_store, tmp_path):
    from typer.testing import CliRunner

    from heads.cli import app

    store = private_copy(binary_store, tmp_path / "store")
    a = fit_head(store, "logreg")
    runner = CliRunner()
    made = runner.invoke(app, ["ensemble", "--store", str(store), "--head", a.head_id, "--method", "mean"])
    assert made.exit_code == 0, made.output
    assert "heads ensemble" in made.stdout and a.head_id in made.stdout
    kinds = runner.invoke(app, ["kinds"])
    assert "ensemble" in kinds.stdout
    refused = runner.invoke(app, ["ensemble", "--store", str(store), "--head", a.head_id, "--method", "stack",
                                  "--cv", "1"])
    assert refused.exit_code == 3 and "--cv must be at least 2" in refused.stderr


def test_a_member_with_its_classes_in_another_order_is_reordered_by_name_in_numpy_and_keras():
    import keras

    from heads.kinds.ensemble import EnsembleModel, Member, column_map
    from heads.kinds.models import EstimatorModel
    from heads.kinds.registry import get_kind, make_head
    from tests.test_heads_support import features

    X, y = features(40, 2, shape=(2, 2, 6))
    kind = get_kind("logreg")
    cats_dogs = EstimatorModel(make_head("logreg").fit(X, y), kind)
    dogs_cats = EstimatorModel(make_head("logreg").fit(X, 1 - y), kind)  # its class 0 is "dogs"
    order = column_map(["cats", "dogs"], ["dogs", "cats"], "h2")
    assert order.tolist() == [1, 0]
    with pytest.raises(HeadError, match="share their classes"):
        column_map(["cats", "dogs"], ["cats", "birds"], "h3")
    model = EnsembleModel([Member(cats_dogs, (0,), np.array([0, 1])), Member(dogs_cats, (0,), order)], [0, 1], "mean")
    proba = model.predict_proba([X.astype(np.float32)])
    np.testing.assert_allclose(proba, cats_dogs.predict_proba([X]), atol=1e-6)  # the same head, twice
    inputs = keras.Input((2, 2, 6))
    exported = keras.Model(inputs, model.to_keras([inputs]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exported(X.astype(np.float32))), proba, atol=1e-5)
