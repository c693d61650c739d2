"""A whole extraction and its heads where TensorFlow cannot be imported (issue 23), as on a GPU machine
that has JAX or PyTorch and no TensorFlow build: `extract run --runtime jax`, `extract ls`/`verify`,
`heads fit --kind logreg`, `heads eval` and `heads predict --runtime jax` on new images, through the
CLI, in a process (and its children) where `import tensorflow` fails. Then TensorFlow, here, computes
the same data: the same configuration id, the same features within the runtimes' tolerance."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from extract import ExtractOptions, RunOptions, run_extraction
from extract.runtimes.keras_backend import TOLERANCE, disagreement
from tests.conftest import CLASS_COLOURS, REPO, make_dataset, make_image

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="SKIPPED: jax is not installed (pip install -e '.[test]' installs its CPU wheel)")

# On PYTHONPATH as sitecustomize: every process of the run (decode workers included) lacks TensorFlow.
HIDE_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys
    class Hidden(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras", "tensorboard", "tf2onnx"):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
    sys.meta_path.insert(0, Hidden())
""")

# The CLI's own entry points, in one process (CliRunner), each step's exit code and output reported.
SESSION = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from typer.testing import CliRunner
    from extract.cli import app as extract
    from heads.cli import app as heads

    data, store, new, other, weights = (Path(p) for p in sys.argv[1:6])
    runner = CliRunner(env={"COLUMNS": "200"})
    steps = {}

    def call(name, app, args):
        result = runner.invoke(app, args)
        steps[name] = {"code": result.exit_code, "output": result.output[-3000:]}
        return result

    call("run", extract, ["run", "--backbone", "mobilenet", "--data", str(data), "--store", str(store),
                          "--weights", str(weights), "--size", "128", "--pool", "avg", "--dtype", "float32",
                          "--runtime", "jax", "--batch-size", "8"])
    call("ls", extract, ["ls", "--store", str(store)])
    call("verify", extract, ["verify", "--store", str(store)])
    call("fit", heads, ["fit", "--store", str(store), "--kind", "logreg"])
    folders = sorted((store / "heads").iterdir()) if (store / "heads").is_dir() else []
    head = str(folders[0]) if folders else "none"
    call("eval", heads, ["eval", "--head", head, "--json"])
    call("predict", heads, ["predict", "--head", head, "--runtime", "jax", "--format", "json", str(new)])
    call("predict-tensorflow", heads, ["predict", "--head", head, str(other)])  # the default: one line
    import keras
    print(json.dumps({"steps": steps, "backend": keras.config.backend(),
                      "tensorflow_imported": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
""")


def _json_in(output: str):
    """The JSON document a command printed (from its first '{' or '['; notes may follow it)."""
    start = min(i for i in (output.find("{"), output.find("[")) if i >= 0)
    return json.JSONDecoder().raw_decode(output[start:])[0]


@pytest.fixture
def no_tensorflow_session(tmp_path, shared_weights):
    data = make_dataset(tmp_path / "data", per_class=4, ext="jpg")
    new = tmp_path / "new"
    for i, name in enumerate(("cats", "dogs", "cats")):
        make_image(new / f"photo{i}.jpg", CLASS_COLOURS[name], 7000 + i)
    other = make_image(tmp_path / "other" / "photo.jpg", CLASS_COLOURS["dogs"], 7100).parent  # not stored yet
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TENSORFLOW)
    # Keras writes keras.json on its first import with "tensorflow" in it, whatever backend it ran on:
    # a machine without TensorFlow must still choose JAX on every later run.
    (tmp_path / "keras_home").mkdir()
    (tmp_path / "keras_home" / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(KERAS_HOME=str(tmp_path / "keras_home"), PYTHONPATH=os.pathsep.join([str(hide), str(REPO)]),
               COLUMNS="200")
    weights = shared_weights / "mobilenet_2_5_128_tf_no_top.h5"
    done = subprocess.run([sys.executable, "-c", SESSION, str(data), str(tmp_path / "store"), str(new), str(other),
                           str(weights)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), data, tmp_path / "store", weights


def test_a_whole_run_and_its_heads_without_tensorflow_then_tensorflow_agrees(no_tensorflow_session, tmp_path):
    from store import FeatureStore
    from store.layout import StoreLayout
    from store.runs import latest_run_record

    report, data, store, weights = no_tensorflow_session
    steps = report["steps"]
    assert report["backend"] == "jax" and report["tensorflow_imported"] == []
    for name in ("run", "ls", "verify", "fit", "eval", "predict"):
        assert steps[name]["code"] == 0, (name, steps[name]["output"])
    assert "16 feature rows checked; 0 problems" in " ".join(steps["verify"]["output"].split())
    assert "mobilenet" in steps["ls"]["output"]
    evaluated = _json_in(steps["eval"]["output"])
    assert evaluated["accuracy"] >= 0.75  # colours a trained base tells apart
    predicted = _json_in(steps["predict"]["output"])
    rows = predicted["predictions"]
    assert [row["error"] for row in rows] == [""] * 3 and {row["features"] for row in rows} == {"computed"}
    assert [row["label"] for row in rows] == ["cats", "dogs", "cats"]  # the colours of the new photos
    # the default runtime (TensorFlow) where there is none: one line naming the one to give
    refused = steps["predict-tensorflow"]
    assert refused["code"] != 0 and "give --runtime jax" in refused["output"]
    assert "Traceback" not in refused["output"] and len(refused["output"].strip().splitlines()) == 1

    # What the run record says where no TensorFlow checked it: the runtime is its own reference
    jax_store = FeatureStore(store)
    (config_id,) = [c.config_id for c in jax_store.configs()]
    stats = latest_run_record(StoreLayout(store), config_id).stats
    assert stats["runtime"] == "jax" and stats["runtime_check"].startswith("not compared")

    # TensorFlow, here, on the same data: the same configuration, the same numbers within tolerance
    options = ExtractOptions("mobilenet", weights=str(weights), size=128, pool="avg", dtype="float32")
    reference = run_extraction(data, tmp_path / "tf", options, RunOptions(batch_size=8))
    assert reference.config.config_id == config_id
    for split in ("train", "validation"):
        want, got = FeatureStore(tmp_path / "tf").view().read(split), jax_store.view().read(split)
        assert got.paths == want.paths and float(abs(want.features).max()) > 0
        assert disagreement(got.features, want.features) <= TOLERANCE
