"""The runtime choice where heads run the base (issue 19): `heads predict --runtime` on new images
gives TensorFlow's probabilities, with the store's converted base checked on those images."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from extract.runtimes import onnx as ort
from heads.cli import app
from heads.errors import HeadError
from heads.fit import fit_head
from heads.predict import predict_images
from store import FeatureStore
from tests.test_heads_support import binary_store, new_images  # noqa: F401

needs_ort = pytest.mark.skipif(ort.OnnxRuntime().unavailable() is not None,
                               reason="SKIPPED: onnxruntime, onnx or tf2onnx not installed")
cli = CliRunner()


@pytest.fixture
def store_and_head(binary_store, tmp_path):
    """A copy of the shared store (a conversion is written into it) and a logreg head of it."""
    store = shutil.copytree(binary_store, tmp_path / "store")
    return store, fit_head(store, "logreg", out=tmp_path / "logreg").folder


@needs_ort
def test_predict_with_onnxruntime_gives_tensorflows_probabilities(store_and_head, tmp_path):
    store, head = store_and_head
    images = new_images(tmp_path / "new", count=4)
    want = predict_images(head, [images], store=store, keep=False)
    got = predict_images(head, [images], store=store, keep=False, runtime="onnxruntime")
    assert [p.path for p in got] == [p.path for p in want] and {p.features for p in got} == {"computed"}
    assert [p.label for p in got] == [p.label for p in want]
    np.testing.assert_allclose([p.scores for p in got], [p.scores for p in want], atol=1e-3)
    config_id = FeatureStore(store).view().config.config_id
    record = json.loads((ort.converted_dir(store, config_id) / ort.RECORD_FILE).read_text())
    assert record["config_id"] == config_id, "the converted base is kept in the head's store"


@needs_ort
def test_predict_refuses_a_converted_base_that_disagrees_on_the_new_images(store_and_head, tmp_path, monkeypatch):
    from tests.test_runtimes import wrong_convert

    store, head = store_and_head
    monkeypatch.setattr(ort, "convert", wrong_convert)
    with pytest.raises(HeadError) as error:
        predict_images(head, [new_images(tmp_path / "new")], store=store, keep=False, runtime="onnxruntime",
                       out=tmp_path / "out.csv")
    assert "\n" not in str(error.value) and "differ from TensorFlow" in str(error.value)
    assert not (tmp_path / "out.csv").exists()
    notes = []
    auto = predict_images(head, [new_images(tmp_path / "new")], store=store, keep=False, runtime="auto",
                          on_note=notes.append)
    # auto takes the store's conversion, meets the same disagreement and falls back, in one line
    assert [p.features for p in auto] == ["computed"] * 6
    assert len(notes) == 1 and "\n" not in notes[0] and notes[0].endswith("Computing with TensorFlow instead.")


def test_heads_predict_runtime_option(store_and_head, tmp_path):
    store, head = store_and_head
    images = new_images(tmp_path / "new", count=1)
    refused = cli.invoke(app, ["predict", "--head", str(head), str(images), "--runtime", "tvm"])
    assert refused.exit_code != 0 and "tvm" in refused.output and "Traceback" not in refused.output
    if ort.OnnxRuntime().unavailable() is None:
        done = cli.invoke(app, ["predict", "--head", str(head), str(images), "--store", str(store),
                                "--runtime", "onnxruntime", "--no-keep", "--format", "json"])
        assert done.exit_code == 0, done.output
        assert "2 computed from the image" in done.output


@needs_ort
def test_finetuning_caches_the_frozen_part_with_the_chosen_runtime(binary_store, tmp_path):
    from pathlib import Path

    from extract import AugmentSpec, RunOptions, run_views
    from heads.finetune.run import finetune_head
    from store import ExtractorConfig

    store = shutil.copytree(binary_store, tmp_path / "store")
    data = Path(FeatureStore(store).view().index.data_root)
    start = fit_head(store, "dense", epochs=1, hidden=(8,), batch_size=8, patience=0, seed=0)
    with pytest.raises(HeadError, match="Unknown runtime 'tvm'"):
        finetune_head(start.folder, data, runtime="tvm")
    tuned = finetune_head(start.folder, data, path="cached", views=1, blocks=2, epochs=1, batch_size=8, patience=0,
                          runtime="onnxruntime")
    ft = tuned.record["finetune"]
    assert len(ft["runtimes"]) == 1 and ft["runtimes"][0].startswith("onnxruntime (model.onnx sha256")
    cut_id = tuned.record["inputs"][0]["config_id"]
    assert [p.parent.parent.parent.name for p in store.rglob(ort.RECORD_FILE)] == [cut_id], "one conversion"
    # the cached activations are TensorFlow's numbers: the same views extracted by TensorFlow elsewhere
    cut = ExtractorConfig.from_json(tuned.record["inputs"][0])
    again = run_views(1, AugmentSpec(**ft["augment"]), data, tmp_path / "tf", cut, RunOptions(batch_size=8))
    for config_id in [cut_id, *ft["view_configs"]]:
        got = FeatureStore(store).view(config_id).read("train")
        want = FeatureStore(tmp_path / "tf").view(config_id).read("train")
        assert got.hashes == want.hashes and {s.config.config_id for s in again} >= {config_id}
        assert ort.disagreement(got.features.astype("float32"), want.features.astype("float32")) <= 2e-3
