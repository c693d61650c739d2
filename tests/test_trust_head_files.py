"""Issue 20: every file of a head folder, damaged or hostile, is one line naming it (exit 3), never a
traceback and never "File not found"; Keras safe mode's refusals (a Lambda's code, a vocabulary file
outside the archive) and skops' (a type the kind does not trust, such as a function) are said as refusals."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from heads.cli import app
from tests.test_heads_support import binary_store, new_images, private_copy  # noqa: F401
from tests.test_trust_heads import _error_line, _heads, fitted_store, store  # noqa: F401

runner = CliRunner()


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, max(path.stat().st_size, 64), np.uint8).tobytes())


def empty(path: Path) -> None:
    path.write_bytes(b"")


def lambda_layer(path: Path) -> None:
    """A Keras model whose layer runs Python code when loaded (Lambda), saved over the head's model."""
    import keras

    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)


def vocabulary_outside(path: Path) -> None:
    """The head's own model.keras with a StringLookup inserted whose vocabulary is a file outside it."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    layers = config["config"]["layers"]
    first = layers[0]["name"]
    layers.insert(1, {
        "module": "keras.layers", "class_name": "StringLookup", "registered_name": None, "name": "lookup",
        "config": {"name": "lookup", "vocabulary": "/etc/hostname", "output_mode": "int", "max_tokens": None,
                   "num_oov_indices": 1, "mask_token": None, "oov_token": "[UNK]", "invert": False,
                   "encoding": "utf-8", "sparse": False, "pad_to_max_tokens": False, "idf_weights": None,
                   "dtype": "int64"},
        "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, 1], "dtype": "string", "keras_history": [first, 0, 0]}}], "kwargs": {}}]})
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def code_inside(path: Path) -> None:
    """A skops file whose object is a function that runs a command (os.system), saved over the head's model."""
    import os

    import skops.io

    skops.io.dump({"run": os.system}, path)


@pytest.mark.parametrize("kind, file, damage, expected", [
    ("dense", "model.keras", truncated, "Damaged head model"),
    ("dense", "model.keras", garbage, "Damaged head model"),
    ("dense", "model.keras", empty, "Damaged head model"),
    ("dense", "model.keras", lambda_layer, "Keras safe mode blocked it"),
    ("dense", "model.keras", vocabulary_outside, "Keras safe mode blocked it"),
    ("logreg", "model.skops", truncated, "Damaged head model"),
    ("logreg", "model.skops", garbage, "Damaged head model"),
    ("logreg", "model.skops", empty, "Damaged head model"),
    ("logreg", "model.skops", code_inside, "outside its kind's trusted list: posix.system"),
    ("logreg", "head.json", truncated, "Damaged head record"),
    ("logreg", "head.json", garbage, "Damaged head record"),
    ("logreg", "head.json", empty, "Damaged head record"),
    ("dense", "history.json", truncated, "Damaged head file"),
    ("dense", "history.json", garbage, "Damaged head file"),
], ids=lambda value: getattr(value, "__name__", None))
def test_every_damaged_or_hostile_head_file_is_one_line(store, tmp_path, kind, file, damage, expected):
    heads = _heads(store)
    folder = heads[kind]
    damage(folder / file)
    images = new_images(tmp_path / "new", count=1)
    for command in (["eval", "--head", str(folder)], ["predict", "--head", str(folder), str(images)]):
        result = runner.invoke(app, command)
        line = _error_line(result)
        assert result.exit_code == 3, (command, result.output)
        assert file in line and expected in line and "not found" not in line.lower(), line
    other = next(f for k, f in heads.items() if k != kind)
    assert runner.invoke(app, ["eval", "--head", str(other)]).exit_code == 0  # the other head is not blocked
