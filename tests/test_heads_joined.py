"""Heads on several backbones at once: features joined by content hash (a missing row, another shard order,
other spatial shapes), every kind, predict from images, and one exported Keras model with two branches."""
from __future__ import annotations

import numpy as np
import pytest

from heads.artifact import load_head
from heads.errors import HeadError
from heads.evaluate import eval_head
from heads.fit import fit_head
from heads.fit_data import FitData
from heads.kinds.joined import FeatureJoin
from heads.kinds.reduce import AUTO_FLATTEN_MAX, auto_mode, resolve_modes
from heads.predict import predict_images
from store import FeatureStore
from tests.test_heads_support import binary_store, joined_store, new_images  # noqa: F401


def _reduced(features: np.ndarray, mode: str) -> np.ndarray:
    return features.reshape(len(features), -1) if mode == "flatten" else features.mean(axis=(1, 2))


def test_rows_are_joined_by_content_whatever_the_order_and_a_missing_row_is_named(joined_store):
    store, first, second = joined_store["store"], joined_store["first"], joined_store["second"]
    features = FeatureStore(store)
    a, b = features.view(first.config_id), features.view(second.config_id)
    assert tuple(first.feature_shape) != tuple(second.feature_shape)
    shared = [h for h in a.catalog.rows if h in b.catalog.rows]
    assert [h for h in a.catalog.rows if h in shared] != [h for h in b.catalog.rows if h in shared]  # other order

    data = FitData.prepare(store, [first.config_id, second.config_id], joined_store["dataset"], ["flatten", "avg"],
                           "train")
    left_out = joined_store["left_out"][0]
    assert left_out.relative_to(joined_store["data"]).as_posix() not in data.train.paths
    assert len(data.train) == 23 and len(data.scoring["validation"]) == 12
    note = next(n for n in data.notes if "no features" in n)
    assert "mobilenet_v2@32 (1)" in note and "mobilenet@32" not in note and left_out.name in note  # readable names

    X = data.read(data.train)
    assert X.shape == (23, 4 * 4 * 64 + 24)
    from extract import Extractor
    for row in (0, 7, 22):  # each joined row holds the features of its own image, recomputed here from the file
        path = str(joined_store["data"] / data.train.paths[row])
        parts = [Extractor.from_config(c).features_of_files([path])[0] for c in (first, second)]
        expected = np.hstack([_reduced(parts[0], "flatten"), _reduced(parts[1], "avg")])[0]
        np.testing.assert_allclose(X[row], expected, atol=0.02 * max(1.0, float(np.abs(expected).max())))


def test_reduce_modes_resolve_per_configuration():
    assert auto_mode((4, 4, 512)) == "flatten" and auto_mode((7, 7, 1280)) == "avg" and auto_mode((64,)) == "flatten"
    assert 4 * 4 * 512 <= AUTO_FLATTEN_MAX < 7 * 7 * 1280
    assert resolve_modes("auto", [(4, 4, 512), (7, 7, 1280)]) == ["flatten", "avg"]
    assert resolve_modes(["max", "flatten"], [(2, 2, 3), (5,)]) == ["max", "flatten"]
    with pytest.raises(ValueError, match="one per configuration"):
        resolve_modes(["avg", "avg", "avg"], [(2, 2, 3), (2, 2, 3)])
    with pytest.raises(ValueError, match="pools a spatial grid"):
        resolve_modes(["avg"], [(64,)])
    join = FeatureJoin(("flatten", "avg"), ((2, 2, 3), (3, 3, 4)))
    assert join.widths == [12, 4] and join.width == 16
    with pytest.raises(HeadError, match="not aligned"):
        join.transform([np.zeros((3, 2, 2, 3)), np.zeros((2, 3, 3, 4))])


@pytest.mark.parametrize("kind", ["logreg", "knn", "dense"])
def test_a_joined_head_records_both_configurations_and_scores_like_its_estimator(joined_store, tmp_path, kind):
    first, second = joined_store["first"], joined_store["second"]
    extra = {"epochs": 10, "batch_size": 8, "hidden": (16,), "patience": 0} if kind == "dense" else {}
    result = fit_head(joined_store["store"], kind, config=[first.config_id, second.config_id],
                      dataset=joined_store["dataset"], reduce=["flatten", "avg"], out=tmp_path / "head", **extra)
    record = result.record
    assert [c["config_id"] for c in record["inputs"]] == [first.config_id, second.config_id]
    assert record["join"]["reduce"] == ["flatten", "avg"] and record["input_shape"] == [4 * 4 * 64 + 24]
    assert record["config_id"] == f"{first.config_id}+{second.config_id}"
    assert any("mobilenet_v2@32 (1)" in note for note in result.notes)  # the second lacks one image, by name
    loaded = load_head(result.folder)
    evaluated = eval_head(result.folder, "validation")
    assert evaluated["accuracy"] == pytest.approx(record["metrics"]["validation"]["accuracy"])
    assert evaluated["n"] == 12 and evaluated["accuracy"] >= 0.9
    features = FeatureStore(joined_store["store"])
    held = features.view(second.config_id).catalog.rows  # the second lacks one train image (see joined_store)
    hashes = [h for h in features.view(first.config_id).catalog.rows if h in held][:5]
    parts = loaded.inputs.stored(loaded.inputs.views(joined_store["store"]), hashes)
    joined = FitData.prepare(joined_store["store"], [first.config_id, second.config_id], joined_store["dataset"],
                             ["flatten", "avg"], "train").join.transform(parts)
    np.testing.assert_allclose(loaded.predict_proba(parts), result.estimator.predict_proba(joined), atol=1e-6)


def test_auto_reduce_is_the_default_and_a_repeated_configuration_is_refused(joined_store, tmp_path):
    first, second = joined_store["first"], joined_store["second"]
    result = fit_head(joined_store["store"], "logreg", config=[second.config_id, first.config_id],
                      dataset=joined_store["dataset"], out=tmp_path / "head")
    assert result.record["join"]["reduce"] == ["flatten", "flatten"] and "reduce_rule" in result.record
    with pytest.raises(HeadError, match="given twice"):
        fit_head(joined_store["store"], "logreg", config=[first.config_id, first.config_id],
                 dataset=joined_store["dataset"], out=tmp_path / "twice")
    with pytest.raises(HeadError, match="one per configuration"):
        fit_head(joined_store["store"], "logreg", config=[first.config_id, second.config_id],
                 dataset=joined_store["dataset"], reduce=["avg", "avg", "avg"], out=tmp_path / "three")
    with pytest.raises(HeadError, match="streaming applies to one configuration"):
        fit_head(joined_store["store"], "sgd", config=[first.config_id, second.config_id],
                 dataset=joined_store["dataset"], stream=True, out=tmp_path / "stream")
    assert not (tmp_path / "twice").exists() and not (tmp_path / "three").exists()


def test_two_backbone_head_predicts_new_images_and_exports_one_model_that_agrees(joined_store, tmp_path):
    import keras

    from heads.export import export_head
    from tests.test_heads_predict_export import run_exported

    first, second = joined_store["first"], joined_store["second"]
    head = fit_head(joined_store["store"], "logreg", config=[first.config_id, second.config_id],
                    dataset=joined_store["dataset"], reduce=["avg", "flatten"], out=tmp_path / "head").folder
    images = new_images(tmp_path / "new", count=2)
    predictions = predict_images(head, [images], keep=False)
    assert {p.features for p in predictions} == {"computed"}
    stored = predict_images(head, [joined_store["data"] / "validation"], keep=False)
    assert {p.features for p in stored} == {"store"}

    loaded = load_head(head)
    size = max(c.size for c in loaded.inputs.configs)
    extractor = next(e for e in loaded.inputs.extractors() if e.config.size == size)
    pixels, _, _ = extractor.load_images([p.path for p in predictions])  # resized as extraction does
    for fmt in ("keras", "onnx"):  # two backbones in one model, in Keras and in another runtime
        result = export_head(head, tmp_path / fmt, check=4, format=fmt)
        assert result.checked == 4 and result.agreement == 1.0
        if fmt == "keras":
            model = keras.models.load_model(result.path)
            assert len([layer for layer in model.layers if isinstance(layer, keras.Model)]) >= 2  # a branch each
        got = run_exported(fmt, tmp_path / fmt)(pixels)
        for p, row in zip(predictions, got):
            column = loaded.columns.index(p.classes[0])
            assert row[column] == pytest.approx(p.probabilities[0], abs=1e-3)


def test_cli_fit_joins_configurations_with_a_reduce_each_and_kind_auto_records_its_choice(joined_store, tmp_path):
    import json

    from typer.testing import CliRunner

    from heads.cli import app

    first, second = joined_store["first"], joined_store["second"]
    runner = CliRunner()
    out = tmp_path / "auto"
    result = runner.invoke(app, ["fit", "--store", str(joined_store["store"]), "--dataset", joined_store["dataset"],
                                 "--kind", "auto", "--config", first.config_id, "--config", second.config_id,
                                 "--reduce", "avg", "--reduce", "flatten", "--cv", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "configurations (joined)" in result.stdout and "chosen by 3-fold CV" in result.stdout
    record = json.loads((out / "head.json").read_text())
    search = record["search"]
    assert search["chosen"] == record["kind"] and set(search["by_kind"]) == {"logreg", "svm", "knn", "dense"}
    assert search["best_cv_accuracy"] == max(k["best_cv_accuracy"] for k in search["by_kind"].values())
    assert record["selection"] == {"chosen": ["kind", "parameters"], "on": "train split, 3-fold cross-validation",
                                   "cv_scheme": "stratified k-fold", "budget_s": None, "budget_hit": False}
    assert record["join"]["reduce"] == ["avg", "flatten"]

    refused = runner.invoke(app, ["fit", "--store", str(joined_store["store"]), "--kind", "auto", "--epochs", "3",
                                  "--out", str(tmp_path / "refused")])
    assert refused.exit_code == 3 and "--kind auto" in refused.stderr and "--epochs" in refused.stderr
