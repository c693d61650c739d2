"""The `heads` CLI in-process: a user's session end to end, and bad input answered in one line."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from heads.cli import app
from tests.test_heads_support import binary_store, new_images, pooled_store, private_copy  # noqa: F401

runner = CliRunner()


def _error_line(result) -> str:
    """The one error line (stderr also holds the stages of the work done before the refusal)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


def test_a_session_fit_list_eval_predict_export(binary_store, tmp_path):
    store = private_copy(binary_store, tmp_path / "store")
    fitted = runner.invoke(app, ["fit", "--store", str(store), "--kind", "logreg"])
    assert fitted.exit_code == 0, fitted.output
    assert "validation (12)" in fitted.stdout and "accuracy" in fitted.stdout
    dense = runner.invoke(app, ["fit", "--store", str(store), "--kind", "dense", "--epochs", "8", "--batch-size", "8",
                                "--hidden", "32", "--patience", "0", "--learning-rate", "0.003", "--seed", "1"])
    assert dense.exit_code == 0, dense.output

    listed = runner.invoke(app, ["list", "--store", str(store), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert sorted(r["kind"] for r in rows) == ["dense", "logreg"]
    assert runner.invoke(app, ["list", "--store", str(store)]).exit_code == 0
    head_id = next(r["head_id"] for r in rows if r["kind"] == "logreg")
    dense_record = next(r for r in rows if r["kind"] == "dense")
    assert dense_record["user_params"]["epochs"] == 8 and dense_record["user_params"]["hidden"] == [32]

    evaluated = runner.invoke(app, ["eval", "--head", head_id, "--store", str(store), "--split", "train", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n"] == 24

    images = new_images(tmp_path / "new", count=2)
    out = tmp_path / "predictions.json"
    predicted = runner.invoke(app, ["predict", "--head", head_id, "--store", str(store), str(images),
                                    "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    payload = json.loads(out.read_text())
    assert len(payload["predictions"]) == 4 and payload["classes"] == ["cats", "dogs"]
    assert all(p["top"][0]["class"] in p["path"] for p in payload["predictions"])

    exported = runner.invoke(app, ["export", "--head", head_id, "--store", str(store), "--out", str(tmp_path / "tfl"),
                                   "--check", "2", "--format", "tflite", "--json"])
    assert exported.exit_code == 0, exported.output
    result = json.loads(exported.stdout)
    assert result["format"] == "tflite" and result["checked"] == 2 and result["agreement"] == 1.0
    assert {"model.tflite", "labels.txt", "preprocessing.json", "README.md"} <= set(result["files"])
    assert (tmp_path / "tfl" / "model.tflite").is_file()
    again = runner.invoke(app, ["export", "--head", head_id, "--store", str(store), "--out", str(tmp_path / "tfl")])
    assert again.exit_code == 3 and "not empty" in _error_line(again)


def test_unknown_kind_is_refused_listing_the_known_ones(binary_store):
    result = runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "tree"])
    assert result.exit_code != 0
    text = " ".join(result.output.replace("│", " ").split())  # typer's usage box wraps lines
    assert "'tree' is not one of 'dense', 'logreg', 'svm', 'knn', 'forest', 'sgd'" in text


def test_bad_parameter_value_is_one_line_and_writes_nothing(binary_store, tmp_path):
    out = tmp_path / "head"
    result = runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "logreg", "--param", "C=-1",
                                 "--out", str(out)])
    assert result.exit_code == 3  # refused input (2 is a usage error)
    assert "'C' parameter of LogisticRegression" in _error_line(result)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_option_of_another_kind_is_refused(binary_store, tmp_path):
    result = runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "svm", "--dropout", "0.2"])
    assert result.exit_code == 3  # refused input (2 is a usage error)
    assert _error_line(result) == "error: --dropout applies to kinds: dense. Received: --kind svm"


def test_predict_with_a_store_of_another_configuration_is_refused(binary_store, pooled_store, tmp_path):
    head = tmp_path / "head"
    assert runner.invoke(app, ["fit", "--store", str(binary_store), "--kind", "logreg", "--out", str(head)]).exit_code == 0
    images = new_images(tmp_path / "new", count=1)
    out = tmp_path / "predictions.csv"
    result = runner.invoke(app, ["predict", "--head", str(head), "--store", str(pooled_store), str(images),
                                 "--out", str(out)])
    assert result.exit_code == 3  # refused input (2 is a usage error)
    assert "was trained on configuration" in _error_line(result)
    assert not out.exists()


def test_kinds_command_lists_the_registry():
    result = runner.invoke(app, ["kinds"])
    assert result.exit_code == 0
    for name in ("dense", "logreg", "svm", "knn", "forest", "sgd"):
        assert name in result.stdout
