"""Hostile or damaged head folders (issue 20, heads half): one line naming the file, never a traceback, and one
damaged head never blocks the others."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heads.cli import app
from tests.test_heads_support import binary_store, new_images, private_copy  # noqa: F401

runner = CliRunner()


def _error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return lines[0]


@pytest.fixture(scope="module")
def fitted_store(binary_store, tmp_path_factory) -> Path:
    """A store with a logreg head and a small dense head (model.skops and model.keras)."""
    store = private_copy(binary_store, tmp_path_factory.mktemp("trust") / "store")
    for extra in (["--kind", "logreg"], ["--kind", "dense", "--epochs", "2", "--hidden", "8", "--patience", "0"]):
        fitted = runner.invoke(app, ["fit", "--store", str(store), *extra])
        assert fitted.exit_code == 0, fitted.output
    return store


@pytest.fixture
def store(fitted_store, tmp_path) -> Path:
    return private_copy(fitted_store, tmp_path / "store")


def _heads(store: Path) -> dict[str, Path]:
    """kind -> head folder."""
    folders = {}
    for folder in (store / "heads").iterdir():
        if not folder.name.startswith("."):
            folders[json.loads((folder / "head.json").read_text())["kind"]] = folder
    return folders


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_head_json_does_not_block_the_others(store):
    heads = _heads(store)
    _truncate(heads["dense"] / "head.json")
    listed = runner.invoke(app, ["list", "--store", str(store)])
    assert listed.exit_code == 0, listed.output
    assert heads["logreg"].name in listed.stdout and heads["dense"].name not in listed.stdout
    skipped = [line for line in listed.stderr.splitlines() if heads["dense"].name in line]
    assert len(skipped) == 1 and "head.json" in skipped[0], listed.stderr
    as_json = runner.invoke(app, ["list", "--store", str(store), "--json"])
    assert [row["kind"] for row in json.loads(as_json.stdout)] == ["logreg"]
    good = runner.invoke(app, ["eval", "--head", heads["logreg"].name, "--store", str(store), "--json"])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, ["eval", "--head", str(heads["dense"]), "--json"])
    assert bad.exit_code != 0 and "head.json" in _error_line(bad) and "Damaged head record" in _error_line(bad)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r.pop("inputs"), "'inputs'"),
    (lambda r: r.pop("data"), "'data'"),
    (lambda r: r.update(columns="cats"), "'columns' should be a list"),
    (lambda r: r["data"].update(class_names=[1, 2]), "class_names"),
    (lambda r: r.update(inputs=[{"no": "config"}]), "config_id"),
])
def test_a_head_json_missing_a_field_or_of_a_wrong_type_is_one_line(store, edit, field):
    folder = _heads(store)["logreg"]
    record = json.loads((folder / "head.json").read_text())
    edit(record)
    (folder / "head.json").write_text(json.dumps(record))
    for command in (["eval", "--head", str(folder)], ["predict", "--head", str(folder), str(store)]):
        result = runner.invoke(app, command)
        line = _error_line(result)
        assert result.exit_code != 0 and field in line and "head.json" in line, line
    listed = runner.invoke(app, ["list", "--store", str(store)])
    assert listed.exit_code == 0 and field in listed.stderr and folder.name in listed.stderr, listed.output


def test_a_head_json_that_is_not_an_object_is_one_line(store):
    folder = _heads(store)["logreg"]
    (folder / "head.json").write_text("[1, 2, 3]")
    line = _error_line(runner.invoke(app, ["eval", "--head", str(folder)]))
    assert "not a JSON object" in line and "head.json" in line


@pytest.mark.parametrize("kind, model_file", [("logreg", "model.skops"), ("dense", "model.keras")])
def test_a_truncated_model_file_is_one_line_naming_it(store, kind, model_file):
    folder = _heads(store)[kind]
    _truncate(folder / model_file)
    result = runner.invoke(app, ["eval", "--head", str(folder)])
    line = _error_line(result)
    assert result.exit_code != 0 and model_file in line and "not found" not in line.lower(), line
    other = next(f for k, f in _heads(store).items() if k != kind)
    assert runner.invoke(app, ["eval", "--head", str(other)]).exit_code == 0


def test_a_damaged_history_file_is_one_line(store):
    folder = _heads(store)["dense"]
    (folder / "history.json").write_text("{not json")
    line = _error_line(runner.invoke(app, ["eval", "--head", str(folder)]))
    assert "history.json" in line


@pytest.mark.parametrize("target", ["store.json", "head.json", "metrics.json", "datasets/p.csv"])
def test_predict_out_never_lands_on_records(store, tmp_path, target):
    folder = _heads(store)["logreg"]
    out = folder / target if target.startswith(("head", "metrics")) else store / target
    before = {p: p.read_bytes() for p in [*store.rglob("*")] if p.is_file()}
    result = runner.invoke(app, ["predict", "--head", str(folder), str(new_images(tmp_path / "new", count=1)),
                                    "--out", str(out)])
    line = _error_line(result)
    assert result.exit_code != 0 and "Refusing to write" in line, line
    assert {p: p.read_bytes() for p in [*store.rglob("*")] if p.is_file()} == before
