"""The Python API: a loaded head's classes_/predict_proba/predict on paths, images and features, the same
numbers as `heads predict`, predictions as a DataFrame, progress off by flag."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from heads import load_head, predict_frame
from heads.cli import app
from heads.errors import HeadError
from heads.fit import fit_head
from heads.predict import collect_images
from tests.test_heads_support import binary_store, multi_store, new_images  # noqa: F401


@pytest.fixture(scope="module")
def multi_head(multi_store, tmp_path_factory):
    return fit_head(multi_store, "logreg", out=tmp_path_factory.mktemp("heads") / "logreg").folder


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return new_images(tmp_path_factory.mktemp("new"), classes=("birds", "cats", "dogs"), count=2)


def test_predict_proba_has_one_column_per_class_in_classes_order(multi_head, fresh):
    head = load_head(multi_head)
    assert list(head.classes_) == ["birds", "cats", "dogs"] == head.columns
    files = collect_images([fresh])
    proba = head.predict_proba(files, progress=False)
    assert proba.shape == (6, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # each generated image is coloured by its class: the column of its class must be the largest
    assert [f.parent.name for f in files] == list(head.predict(files, progress=False))
    assert list(head.classes_[proba.argmax(axis=1)]) == [f.parent.name for f in files]


def test_same_numbers_as_the_cli(multi_head, fresh, tmp_path):
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["predict", "--head", str(multi_head), str(fresh), "--out", str(out),
                                      "--top", "3", "--no-keep"])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    head = load_head(multi_head)
    proba = head.predict_proba(fresh, progress=False)  # a folder, walked in the CLI's order
    assert [p["path"] for p in payload["predictions"]] == [str(f) for f in collect_images([fresh])]
    for row, p in zip(proba, payload["predictions"]):
        cli = {t["class"]: t["probability"] for t in p["top"]}
        np.testing.assert_allclose(row, [cli[c] for c in head.classes_], rtol=0, atol=1e-12)


def test_paths_images_and_features_give_the_same_probabilities(multi_head, fresh):
    head = load_head(multi_head)
    files = collect_images([fresh])
    from_paths = head.predict_proba([str(f) for f in files], progress=False)
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    from_array = head.predict_proba(pixels, progress=False)
    from_pil = head.predict_proba([Image.open(f) for f in files], progress=False)
    features = head.inputs.compute([str(f) for f in files])[0][0]
    from_features = head.predict_proba(features)
    from_dict = head.predict_proba({head.inputs.ids[0]: features})
    for other in (from_array, from_pil, from_features, from_dict):
        np.testing.assert_allclose(other, from_paths, atol=1e-6)


def test_bad_inputs_are_refused_in_one_line(multi_head, tmp_path):
    head = load_head(multi_head)
    with pytest.raises(HeadError, match="must be numbers shaped"):
        head.predict_proba(np.zeros((2, 5), np.float32))
    with pytest.raises(HeadError, match="Cannot predict from int"):
        head.predict_proba(3)
    with pytest.raises(HeadError, match="must name exactly"):
        head.predict_proba({"other": np.zeros((1, 1))})
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(HeadError, match="junk.jpg: not an image"):
        head.predict_proba([tmp_path / "junk.jpg"], progress=False)


def test_predict_frame_columns_and_progress_flag(multi_head, fresh, tmp_path, capsys):
    (tmp_path / "junk.png").write_bytes(b"nope")
    frame = predict_frame(multi_head, [fresh, tmp_path / "junk.png"], keep=False, progress=False)
    assert list(frame.columns) == ["path", "predicted", "birds", "cats", "dogs", "error"]
    assert len(frame) == 7 and frame["error"].iloc[-1].startswith("not an image")
    assert frame[["birds", "cats", "dogs"]].iloc[-1].isna().all()
    good = frame.iloc[:-1]
    np.testing.assert_allclose(good[["birds", "cats", "dogs"]].to_numpy(),
                               load_head(multi_head).predict_proba(fresh, progress=False), atol=1e-12)
    assert (good["predicted"] == [p.split("/")[-2] for p in good["path"]]).all()
    assert capsys.readouterr().err == ""  # progress=False: nothing on stderr
    predict_frame(multi_head, fresh, keep=False, progress=True)
    assert "img" in capsys.readouterr().err  # the bar, on stderr


def test_fit_result_and_split_data_as_frames(multi_store, tmp_path):
    from store import FeatureStore

    result = fit_head(multi_store, "logreg", out=tmp_path / "h")
    scores = result.to_frame()
    assert {"train", "validation"} <= set(scores.index)
    assert scores.loc["validation", "accuracy"] == result.metrics["validation"]["accuracy"]
    assert result.head_id in repr(result) and "validation accuracy" in repr(result)
    view = FeatureStore(multi_store).view(FeatureStore(multi_store).configs()[0].config_id)
    split = view.read("validation")
    frame = split.to_frame()
    assert list(frame.columns[:4]) == ["path", "sha256", "class", "label"] and len(frame) == len(split)
    np.testing.assert_array_equal(frame.iloc[:, 4:].to_numpy(), split.features.reshape(len(split), -1))
    assert list(frame["class"]) == [split.class_names[i] for i in split.labels]


def test_eval_result_as_a_frame_of_the_scored_images(multi_store, multi_head):
    from heads import eval_head
    from store import FeatureStore

    result = eval_head(multi_head, "validation")
    frame = result.to_frame()
    head = load_head(multi_head)
    assert list(frame.columns) == ["path", "true", "predicted", "correct", *head.classes_]
    assert len(frame) == result["n"] > 0
    assert frame["correct"].mean() == pytest.approx(result["accuracy"])  # the metrics are these rows'
    assert (frame["correct"] == (frame["true"] == frame["predicted"])).all()
    # the rows are the stored validation images, each with its class: the same numbers as predict_proba
    split = FeatureStore(multi_store).view(head.inputs.ids[0]).read("validation")
    by_path = dict(zip(split.paths, range(len(split))))
    rows = [by_path[p] for p in frame["path"]]
    assert list(frame["true"]) == [split.class_names[split.labels[i]] for i in rows]
    np.testing.assert_allclose(frame[list(head.classes_)].to_numpy(), head.predict_proba(split.features[rows]),
                               atol=1e-6)
    assert json.loads(json.dumps(result))["accuracy"] == result["accuracy"]  # still the dict heads eval prints


def test_eval_frame_renames_a_class_named_like_a_fixed_column():
    from heads.eval_result import EvalResult

    result = EvalResult({"n": 2}, ["a.jpg", "b.jpg"], ["true", "x"], np.array([[0.9, 0.1], [0.2, 0.8]]),
                        ["true", "x"], "/data")
    frame = result.to_frame()
    assert list(frame.columns) == ["path", "true", "predicted", "correct", "proba_true", "x"]
    assert list(frame["predicted"]) == ["true", "x"] and frame["correct"].all()
    with pytest.raises(ValueError, match="do not line up"):
        EvalResult({}, ["a.jpg"], ["x", "y"], np.zeros((1, 2)), ["x", "y"], "/data")


def test_run_extraction_progress_follows_the_heads_convention(tmp_path, capsys, monkeypatch):
    """progress=False: no bar; True: a bar on stderr; None: a bar only in a terminal or notebook, and not
    when the caller follows progress through its own callbacks (the CLI's rich bars)."""
    import extract.api
    from extract.api import run_extraction
    from tests.conftest import TINY, TINY_RUN, make_dataset

    data = make_dataset(tmp_path / "d", per_class=3)
    run_extraction(data, tmp_path / "quiet", TINY, TINY_RUN, progress=False)
    run_extraction(data, tmp_path / "default", TINY, TINY_RUN)  # pytest's stderr is not a terminal
    assert "img" not in capsys.readouterr().err
    summary = run_extraction(data, tmp_path / "loud", TINY, TINY_RUN, progress=True)
    err = capsys.readouterr().err
    assert summary.extracted == 12 and "extracting mobilenet:" in err and "/12 [" in err  # tqdm's bar, 12 images
    monkeypatch.setattr(extract.api, "shows_progress", lambda progress: True)  # as in a terminal
    run_extraction(data, tmp_path / "terminal", TINY, TINY_RUN)
    assert "/12 [" in capsys.readouterr().err
    counted: list[int] = []
    run_extraction(data, tmp_path / "own", TINY, TINY_RUN, on_progress=counted.append)
    assert sum(counted) == 12 and "img" not in capsys.readouterr().err  # the caller's callbacks, no bar
