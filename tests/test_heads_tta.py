"""Test-time views: fixed transforms cached as configurations, eval and predict averaged over them."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import StratifiedKFold, cross_val_score

from extract import Extractor, FixedView, run_tta, tta_views
from extract.augment import TTA_VIEWS, view_parameters
from heads.errors import HeadError
from heads.evaluate import eval_head
from heads.fit import fit_head
from heads.predict import predict_images
from heads.tta import cross_validated, view_inputs
from store import FeatureStore
from tests.conftest import dataset  # noqa: F401
from tests.test_heads_support import binary_store, new_images, private_copy  # noqa: F401

IDENTITY = (FixedView("identity"),)


def test_fixed_views_are_the_same_for_every_image_and_a_flip_comes_first():
    assert tta_views(1)[0].flip and tta_views(1)[0].scale == 1.0 and len(tta_views(7)) == 7 == len(TTA_VIEWS)
    view = tta_views(2)[1].augment()
    np.testing.assert_array_equal(view_parameters(view, "ab" * 32), view_parameters(view, "cd" * 32))
    with pytest.raises(ValueError, match="Test-time views: 0 to 7"):
        tta_views(8)


def test_the_flip_view_is_the_features_of_the_mirrored_image(binary_store, tmp_path):
    store = private_copy(binary_store, tmp_path / "store")
    plain = FeatureStore(store).select()
    summaries = run_tta(1, FeatureStore(store).dataset(), store, plain)
    assert summaries[0].extracted == 0 and summaries[1].config.augment["tta"] == "flip"
    flipped_config = summaries[1].config
    assert FeatureStore(store).view(flipped_config.config_id).split_counts() == {"train": 24, "validation": 12}
    index = FeatureStore(store).dataset()
    original = tmp_path / "original.png"
    mirrored = tmp_path / "mirrored.png"
    source = f"{index.data_root}/{index.paths[0]}"
    Image.open(source).save(original)
    Image.open(source).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    from_view = FeatureStore(store).view(flipped_config.config_id).features_for([index.hashes[0]]).astype(np.float32)
    of_mirror = Extractor.from_config(plain).features_of_files([str(mirrored)])[0]
    of_plain = Extractor.from_config(plain).features_of_files([str(original)])[0]
    scale = float(np.abs(of_mirror).max())
    assert np.abs(from_view - of_mirror).max() < 0.02 * scale < np.abs(from_view - of_plain).max()


def test_tta_with_identity_views_equals_the_plain_prediction(binary_store, tmp_path, monkeypatch):
    store = private_copy(binary_store, tmp_path / "store")
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    plain = eval_head(head, "validation")
    monkeypatch.setattr("extract.augment.TTA_VIEWS", IDENTITY)
    stages = []
    averaged = eval_head(head, "validation", tta=1, on_stage=stages.append)
    assert averaged["tta"] == ["identity"] and any("extracting 12 images of validation" in s for s in stages)
    assert averaged["accuracy"] == plain["accuracy"] and averaged["log_loss"] == pytest.approx(plain["log_loss"], abs=1e-4)
    again = []
    eval_head(head, "validation", tta=1, on_stage=again.append)
    assert again == []  # cached: computed once

    images = new_images(tmp_path / "new", count=2)
    by_plain = predict_images(head, [images], keep=False)
    by_tta = predict_images(head, [images], tta=1, keep=False)
    for a, b in zip(by_plain, by_tta):
        assert a.classes == b.classes and a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_real_views_change_the_probabilities_and_bad_counts_are_refused(binary_store, tmp_path):
    store = private_copy(binary_store, tmp_path / "store")
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    plain = eval_head(head, "validation")
    flipped = eval_head(head, "validation", tta=2)
    assert flipped["tta"] == ["flip", "zoom"] and flipped["log_loss"] != pytest.approx(plain["log_loss"], abs=1e-6)
    with pytest.raises(HeadError, match="Test-time views: 0 to 7"):
        eval_head(head, "validation", tta=9)
    with pytest.raises(HeadError, match="number of fixed views"):
        predict_images(head, [tmp_path], tta=-1)


def test_cross_validated_tta_scores_as_scikit_learn_folds_and_averages_the_views(binary_store, tmp_path, monkeypatch):
    from heads.artifact import load_head

    store = private_copy(binary_store, tmp_path / "store")
    loaded = load_head(fit_head(store, "logreg", out=tmp_path / "head").folder)
    monkeypatch.setattr("extract.augment.TTA_VIEWS", IDENTITY)
    view = FeatureStore(store).view()
    train = view.read("train")
    parts = [train.features.astype(np.float32)]
    scores = cross_validated(loaded.model, parts, [parts], train.labels, cv=3)
    assert scores["plain_cv_accuracy"] == scores["tta_cv_accuracy"] and scores["split"] == "train"
    folds = StratifiedKFold(3, shuffle=True, random_state=0)  # the same folds, scored by scikit-learn
    assert scores["plain_cv_accuracy"] == pytest.approx(
        cross_val_score(loaded.model.estimator, parts[0], train.labels, cv=folds).mean())
    # Two "views" that are images of the other class outvote the plain image: the views are really averaged in.
    labels = np.asarray(train.labels)
    other = np.array([np.flatnonzero(labels != label)[i % int((labels != label).sum())]
                      for i, label in enumerate(labels)])
    wrong = [parts[0][other]]
    outvoted = cross_validated(loaded.model, parts, [wrong, wrong], labels, cv=3)
    assert outvoted["plain_cv_accuracy"] == scores["plain_cv_accuracy"] > 0.8
    assert outvoted["tta_cv_accuracy"] < 0.5 and outvoted["views"] == 2
    assert [i.configs[0].augment["tta"] for i in view_inputs(loaded.inputs, 1)] == ["identity"]


def test_eval_judges_the_views_by_cross_validation_on_train_only(binary_store, tmp_path):
    store = private_copy(binary_store, tmp_path / "store")
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    result = eval_head(head, "train", tta=1, cv=3)
    scores = result["tta_cv"]
    assert scores["split"] == "train" and scores["views"] == 1 and scores["cv"] == 3
    assert 0.5 <= scores["plain_cv_accuracy"] <= 1.0 and 0.5 <= scores["tta_cv_accuracy"] <= 1.0
    with pytest.raises(HeadError, match="--cv judges test-time views on the train split"):
        eval_head(head, "validation", tta=1, cv=3)
    with pytest.raises(HeadError, match="give --tta K"):
        eval_head(head, "train", cv=3)


def test_extract_run_tta_caches_the_views_of_every_split(dataset, tmp_path):
    from typer.testing import CliRunner

    from extract.cli import app

    args = ["--backbone", "mobilenet", "--weights", "none", "--size", "32", "--alpha", "0.25", "--layer",
            "conv_pw_1_relu", "--batch-size", "8"]
    result = CliRunner().invoke(app, ["run", "--data", str(dataset), "--store", str(tmp_path / "s"), "--tta", "2", *args])
    assert result.exit_code == 0, result.output
    printed = "".join(result.stdout.split())  # table titles wrap in a narrow terminal
    assert "extractrun:mobilenet@32+flip" in printed and "extractrun:mobilenet@32+zoom" in printed  # by name
    assert "test-timeviewflip" in printed and "test-timeviewzoom" in printed
    configs = FeatureStore(tmp_path / "s").configs()
    assert sorted((c.augment or {}).get("tta", "") for c in configs) == ["", "flip", "zoom"]
    for config in configs:
        assert FeatureStore(tmp_path / "s").view(config.config_id).split_counts() == {"train": 12, "validation": 12}
    refused = CliRunner().invoke(app, ["run", "--data", str(dataset), "--store", str(tmp_path / "t"), "--tta", "9", *args])
    assert refused.exit_code == 3 and "Test-time views: 0 to 7" in refused.output
    assert not (tmp_path / "t").exists()  # refused before anything was extracted
