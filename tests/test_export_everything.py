"""Everything `heads fit` makes and the benchmarks choose, exported and checked: a joined head whose branches
have different input sizes (the smaller resized inside the model by constant matrices), an ensemble of it with
a flip view inside, in every format; predict.py of an export folder against `heads predict` on real images;
check images whose files changed since extraction left out and said."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from extract.api import run_extraction
from heads.ensemble import ensemble_heads
from heads.export import export_head
from heads.fit import fit_head
from heads.predict import predict_images
from store import FeatureStore
from tests.conftest import SHARED
from tests.test_heads_support import (COLOURS, SECOND, TINY_RUN, binary_store, built_store, image,  # noqa: F401
                                      new_images, private_copy)

FORMATS = ["keras", "savedmodel", "tflite", "onnx"]
DENSE_FAST = {"epochs": 15, "batch_size": 8, "hidden": (32,), "patience": 0, "learning_rate": 3e-3}
# predict.py (resize.py in NumPy, the model in its runtime, float32 features) against `heads predict` (TensorFlow's
# resize, features rounded through float16): measured at most 6.5e-5 on 20 real photos and 6 generated
# images (dense head, flip view, every format); allowed 1e-3.
PREDICT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def two_sizes(binary_store, tmp_path_factory):
    """The binary store plus a second backbone at 48 px (the first is at 32): a joined head of both, a dense
    head on the first, and their mean ensemble."""
    root = tmp_path_factory.mktemp("two-sizes")
    store = private_copy(binary_store, root / "store")
    data = FeatureStore(store).dataset().data_root
    run_extraction(data, store, dataclasses.replace(SECOND, size=48), TINY_RUN)
    configs = {c.backbone: c for c in FeatureStore(store).configs()}
    small, large = configs["mobilenet"], configs["mobilenet_v2"]
    assert (small.size, large.size) == (32, 48)
    joined = fit_head(store, "logreg", config=[small.config_id, large.config_id], out=root / "joined").folder
    dense = fit_head(store, "dense", config=small.config_id, out=root / "dense", **DENSE_FAST).folder
    ensemble = ensemble_heads([joined, dense], store=store, out=root / "ensemble").folder
    return {"store": store, "joined": joined, "dense": dense, "ensemble": ensemble, "small": small}


@pytest.mark.slow  # about 30 s a format (tflite and onnx convert an ensemble of three backbone calls per view)
@pytest.mark.parametrize("fmt", FORMATS)
def test_ensemble_of_a_two_size_joined_head_with_a_flip_view_exports_in_every_format(two_sizes, tmp_path, fmt):
    out = tmp_path / "export"
    result = export_head(two_sizes["ensemble"], out, check=4, format=fmt, tta=1)
    assert result.checked == 4 and result.agreement == 1.0 and result.max_difference <= 0.02
    resize = result.resize_check  # the 32 px branch is resized from the 48 px input inside the model
    assert resize["sizes"] == [32] and resize["checked"] == 4 and "two resizes in a row are not one" in resize["why"]
    assert 0 < resize["max_difference"] <= 0.02 and resize["compared_with"] == "heads predict"
    described = json.loads((out / "preprocessing.json").read_text())
    assert described["input"]["shape"] == [None, 48, 48, 3]
    inside = described["inside_model"]
    assert inside["test_time_views"] == ["flip"] and inside["resized_inside"]["sizes"] == [32]
    assert [b["resized_inside"] for b in inside["branches"]] == [True, False]
    resize_named = described["resize"]
    assert resize_named["antialias"] is True and resize_named["channel_order"] == "RGB"
    assert resize_named["range"] == [0, 255] and resize_named["filter"].startswith("bilinear")
    card = (out / "README.md").read_text()
    assert "Test-time views inside the model" in card and "two resizes in a row are not one" in card
    assert {"predict.py", "resize.py", "labels.txt"} <= set(result.files)


# Runs each folder's predict.py (--json) in one fresh Python, then fails if any module of the tool was imported.
RUNNER = """
import contextlib, io, json, runpy, sys
folders, paths = json.loads(sys.argv[1]), sys.argv[2:]
results = {}
for folder in folders:
    sys.argv = [folder + "/predict.py", *paths, "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(folder + "/predict.py", run_name="__main__")
    results[folder] = json.loads(out.getvalue())
tool = sorted({name for name in sys.modules if name.split(".")[0] in ("heads", "extract", "store")})
print(json.dumps({"results": results, "tool_modules": tool}))
"""


def real_images(count: int = 3) -> list:
    root = SHARED / "data" / "dogs_vs_cats" / "validation"
    if not root.is_dir():
        pytest.skip(f"SKIPPED: real images need ../shared/data/dogs_vs_cats (not found at {root})")
    return [path for name in ("cats", "dogs") for path in sorted((root / name).glob("*.jpg"))[:count]]


@pytest.mark.slow  # about 90 s: five exports, then their predict.py in one fresh Python
def test_predict_py_of_every_export_folder_agrees_with_heads_predict_on_real_images(two_sizes, tmp_path):
    """predict.py uses only Pillow, NumPy and the format's runtime (no module of the tool is imported; a knn
    model's layers come from the file shipped beside it); on real photos, and on generated images of another
    shape, it gives `heads predict`'s probabilities, the flip view included."""
    knn = fit_head(two_sizes["store"], "knn", config=two_sizes["small"].config_id, out=tmp_path / "knn").folder
    cases = {f"dense-{fmt}": (two_sizes["dense"], fmt, 1) for fmt in FORMATS} | {"knn-keras": (knn, "keras", 0)}
    for name, (head, fmt, tta) in cases.items():
        export_head(head, tmp_path / name, check=2, format=fmt, tta=tta)
    paths = [str(p) for p in real_images() + sorted(new_images(tmp_path / "new", count=2).rglob("*.png"))]
    folders = [str(tmp_path / name) for name in cases]
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(folders), *paths], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["tool_modules"] == []
    for (name, (head, _, tta)), folder in zip(cases.items(), folders):
        got = {row["path"]: row["probabilities"] for row in answer["results"][folder]}
        expected = predict_images(head, paths, tta=tta, top=2)
        assert len(got) == len(expected) == len(paths)
        for prediction in expected:
            want = [prediction.probabilities[prediction.classes.index(c)] for c in ("cats", "dogs")]
            np.testing.assert_allclose([got[prediction.path][c] for c in ("cats", "dogs")], want,
                                       atol=PREDICT_TOLERANCE, err_msg=f"{name}: {prediction.path}")


def test_a_resize_inside_that_moves_the_model_over_the_tolerance_is_said_in_the_folder(two_sizes, tmp_path):
    """Over the tolerance, the export is checked against the tool's own Keras model of the same computation,
    and the folder says by how much it differs from `heads predict`, and why."""
    out = tmp_path / "export"
    result = export_head(two_sizes["joined"], out, check=4, tolerance=1e-7)
    resize = result.resize_check
    assert resize["max_difference"] > 1e-7 and resize["compared_with"].startswith("the tool's Keras model")
    assert result.max_difference <= 1e-7  # the keras file itself is exact against that model
    described = json.loads((out / "preprocessing.json").read_text())["inside_model"]["resized_inside"]
    assert described["max_difference"] == pytest.approx(resize["max_difference"], abs=1e-8)
    assert "differ from `heads predict` by up to" in (out / "README.md").read_text()


def test_check_images_whose_content_changed_are_left_out_and_said(tmp_path_factory, tmp_path):
    """A data file replaced since extraction (same name, other content) is no fair check: it is left out with a
    note, instead of making an exact export look wrong ("differs by up to 0.49"); none left: said too."""
    from typer.testing import CliRunner

    from heads.cli import app

    store = built_store(tmp_path_factory.getbasetemp(), "export-stale", seed=7)
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    index = FeatureStore(store).dataset()
    validation = [index.absolute(i) for i, s in enumerate(index.splits) if s == "validation"]
    for number, path in enumerate(validation[:3]):  # another class's colour under the same name
        image(path, COLOURS["dogs" if "/cats/" in path.as_posix() else "cats"], 50_000 + number, size=(40, 36))
    result = CliRunner().invoke(app, ["export", "--head", str(head), "--out", str(tmp_path / "export"),
                                      "--check", "4"])
    assert result.exit_code == 0, result.output
    assert "agrees with `heads predict` on 4 store images" in result.output
    assert "3 store images changed on disk since they were extracted" in result.output

    originals = sorted({p for p in (tmp_path_factory.getbasetemp() / "data-export-stale").rglob("*.png")})
    for number, path in enumerate(originals):
        shutil.copyfile(originals[(number + 1) % len(originals)], path)  # every file now holds another's content
    exported = export_head(head, tmp_path / "none", check=4)
    assert exported.checked == 0
    assert any("Only 0 of the 4 check images asked" in note for note in exported.notes)
    recorded = json.loads((tmp_path / "none" / "preprocessing.json").read_text())["check"]
    assert recorded["checked"] == 0 and any("Only 0 of the 4" in note for note in recorded["notes"])
