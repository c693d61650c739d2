"""Keras 3 on JAX and on PyTorch as runtimes of the frozen base (issue 23): the same configuration id,
TensorFlow's features within tolerance, checked on the run's first images, and a JAX path that never
imports TensorFlow."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from extract import Extractor, ExtractOptions, RunOptions, run_extraction
from extract.runtimes import RuntimeUnavailable
from extract.runtimes.keras_backend import CheckedAgainstReference, TOLERANCE, disagreement
from store.layout import StoreLayout
from store.runs import latest_run_record
from tests.conftest import REPO, SYNTHETIC_WEIGHTS, TINY

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="SKIPPED: jax is not installed (pip install -e '.[test]' installs its CPU wheel)")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="SKIPPED: PyTorch is not installed (not in the test extra: its wheel "
                                        "brings ~3 GB of CUDA libraries; pip install torch to run this)")


def images(count: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(23).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def small_mobilenet(weights_dir) -> ExtractOptions:
    """Real ImageNet weights (MobileNet alpha 0.25 at 128 px), pooled: features of a trained base."""
    return ExtractOptions("mobilenet", weights=str(weights_dir / "mobilenet_2_5_128_tf_no_top.h5"), size=128,
                          pool="avg")


@needs_jax
@pytest.mark.parametrize("real", [False, True], ids=["tiny-random", "mobilenet-0.25-imagenet"])
def test_jax_runtime_gives_tensorflows_features_under_the_same_configuration_id(real, request):
    options = small_mobilenet(request.getfixturevalue("shared_weights")) if real else TINY
    reference = Extractor.from_options(options)
    jax = Extractor.from_options(options, runtime="jax")
    assert jax.runtime == "jax" and jax.config.config_id == reference.config.config_id
    batch = images(6, reference.config.size)
    want = reference.infer(batch)
    got = jax.infer(batch)  # in a child process: this process's Keras runs on TensorFlow
    assert got.shape == want.shape and float(np.abs(want).max()) > 0
    assert disagreement(got, want) <= TOLERANCE
    assert jax.infer.device == "CPU" and "against TensorFlow on the run's first 6 images" in jax.infer.checked


@needs_jax
def test_extract_run_with_jax_stores_tensorflows_features_and_names_the_runtime(dataset, tmp_path):
    from store import FeatureStore

    tf_store, jax_store = tmp_path / "tf", tmp_path / "jax"
    first = run_extraction(dataset, tf_store, TINY, RunOptions(batch_size=8))
    second = run_extraction(dataset, jax_store, TINY, RunOptions(batch_size=8, runtime="jax"))
    assert first.config.config_id == second.config.config_id and second.extracted == first.extracted > 0
    stats = latest_run_record(StoreLayout(jax_store), second.config.config_id).stats
    assert stats["runtime"] == "jax" and stats["runtime_check"].startswith("against TensorFlow")
    assert second.devices and set(second.devices.values()) == {"CPU"}
    want, got = FeatureStore(tf_store).view().read("train"), FeatureStore(jax_store).view().read("train")
    assert got.paths == want.paths
    assert disagreement(got.features, want.features) <= 2e-3  # float16 storage on top of 1e-3


class ShiftedWorker:
    """A child whose numbers are not TensorFlow's: what the check is there to catch."""

    device = "CPU"

    def __init__(self, extractor, shift: float):
        self.extractor, self.shift = extractor, shift

    def features(self, batch):
        want = np.asarray(self.extractor.model(batch, training=False), np.float32)
        return want + self.shift * float(np.abs(want).max())


def test_features_that_differ_from_tensorflows_are_refused_in_one_line():
    extractor = Extractor.from_options(TINY).build()
    close = CheckedAgainstReference(ShiftedWorker(extractor, 1e-5), extractor, "jax")
    assert close(images(4)).shape[0] == 4 and close.checked.endswith("of their scale")
    wrong = CheckedAgainstReference(ShiftedWorker(extractor, 0.05), extractor, "jax")
    with pytest.raises(RuntimeUnavailable) as error:
        wrong(images(4))
    message = str(error.value)
    assert "\n" not in message and "differ from TensorFlow's by 0.05" in message and "refusing" in message
    assert wrong.checked is None


@needs_jax
def test_a_worker_that_cannot_build_the_configuration_is_one_line_and_leaves_no_process(tmp_path, shared_weights,
                                                                                          monkeypatch):
    weights = tmp_path / "mobilenet.h5"
    shutil.copy(shared_weights / "mobilenet_2_5_128_tf_no_top.h5", weights)
    options = ExtractOptions("mobilenet", weights=str(weights), size=128, alpha=0.25, preprocess="tf", pool="avg")
    extractor = Extractor.from_options(options, runtime="jax")
    weights.write_bytes(weights.read_bytes()[:-1] + b"x")  # changed after the configuration was made
    started, popen = [], subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(popen(*args, **kwargs)) or started[-1])
    from extract.runtimes.keras_worker import KerasWorker

    with pytest.raises(RuntimeUnavailable) as error:
        KerasWorker("jax", extractor)
    message = str(error.value)
    assert "\n" not in message and "do not match configuration" in message
    assert len(started) == 1 and started[0].poll() is not None  # the child has ended


@needs_jax
def test_a_worker_killed_mid_run_is_one_line_not_a_hang():
    from extract.runtimes.keras_worker import KerasWorker

    extractor = Extractor.from_options(TINY)
    worker = KerasWorker("jax", extractor)
    assert worker.features(images(2)).shape[0] == 2
    worker.process.kill()
    worker.process.wait()
    with pytest.raises(RuntimeUnavailable) as error:
        worker.features(images(2))
    message = str(error.value)
    assert "\n" not in message and "worker of configuration" in message and "ended" in message
    assert not os.path.exists(worker.log.name)  # its log removed with it


def test_tensorflow_runtime_in_a_process_without_tensorflow_is_one_line(monkeypatch):
    from extract import devices
    from extract.runtimes import get_runtime

    monkeypatch.setattr(devices, "keras_backend", lambda: "jax")
    with pytest.raises(RuntimeUnavailable) as error:
        get_runtime("tensorflow").load(Extractor.from_options(TINY))
    assert "\n" not in str(error.value) and "give --runtime jax" in str(error.value)


def test_without_tensorflow_keras_runs_on_jax_unless_the_user_chose(monkeypatch, tmp_path):
    from extract import devices

    monkeypatch.setattr(devices, "_installed", lambda name: name in {"jax", "torch"})
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "")  # unset for the function; restored after (it sets the variable)
    assert devices.default_keras_backend() == "jax" and os.environ["KERAS_BACKEND"] == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # the user's choice stays
    assert devices.default_keras_backend() is None and os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))  # keras.json's too
    assert devices.default_keras_backend() is None and "KERAS_BACKEND" not in os.environ


# The JAX path in a process where TensorFlow cannot be imported (as on a GPU machine without it): the
# backend is chosen by `extract` itself (no KERAS_BACKEND given), the base is built and run on JAX.
NO_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys
    class Hidden(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tf_keras", "tensorboard"):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
    sys.meta_path.insert(0, Hidden())

    import numpy as np
    from extract import Extractor, ExtractOptions, devices
    from extract.runtimes import get_runtime
    from extract.runtimes.choice import choose_runtime

    options = ExtractOptions(**OPTIONS)
    extractor = Extractor.from_options(options, runtime=choose_runtime("auto", 1, None, ""))
    features = extractor.features(np.load(IMAGES))
    np.save(OUT, features)
    try:  # TensorFlow's seeded random init is not JAX's: refused, never other numbers under its id
        Extractor.from_options(ExtractOptions(**{**OPTIONS, "weights": "none"}), runtime="jax").infer
        random_init = "computed"
    except Exception as error:
        random_init = str(error)
    print(json.dumps({"random_init": random_init, "backend": devices.keras_backend(), "runtime": extractor.runtime,
                      "config_id": extractor.config.config_id, "checked": extractor.infer.checked,
                      "tensorflow_reason": get_runtime("tensorflow").unavailable(),
                      "tensorflow_imported": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
""")


@needs_jax
def test_the_jax_path_runs_without_tensorflow(tmp_path, synthetic_weights_dir):
    batch = images(5)
    np.save(tmp_path / "images.npy", batch)
    fields = {"backbone": TINY.backbone, "weights": str(synthetic_weights_dir / SYNTHETIC_WEIGHTS),
              "size": TINY.size, "alpha": TINY.alpha, "layer": TINY.layer}
    script = (f"import json\nOPTIONS = {fields!r}\nIMAGES = {str(tmp_path / 'images.npy')!r}\n"
              f"OUT = {str(tmp_path / 'out.npy')!r}\n" + NO_TENSORFLOW)
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # no keras.json choosing a backend
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and report["runtime"] == "jax" and report["tensorflow_imported"] == []
    assert "Keras runs on jax" in report["tensorflow_reason"] and "no TensorFlow reference" in report["checked"]
    assert "--weights none is TensorFlow's seeded random init" in report["random_init"]
    reference = Extractor.from_options(ExtractOptions(**fields))
    assert report["config_id"] == reference.config.config_id
    assert disagreement(np.load(tmp_path / "out.npy"), reference.features(batch)) <= 2e-3  # float16 storage


@needs_torch
def test_torch_runtime_gives_tensorflows_features_under_the_same_configuration_id():
    reference = Extractor.from_options(TINY)
    torch = Extractor.from_options(TINY, runtime="torch")
    assert torch.config.config_id == reference.config.config_id
    batch = images(6)
    got, want = torch.infer(batch), reference.infer(batch)
    assert disagreement(got, want) <= TOLERANCE and "against TensorFlow" in torch.infer.checked


def test_a_missing_backend_is_one_line_naming_how_to_install_it(monkeypatch):
    from extract.runtimes.jax import JaxRuntime

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jaxlib" else real(name, *a))
    with pytest.raises(RuntimeUnavailable) as error:
        JaxRuntime().load(Extractor.from_options(TINY))
    message = str(error.value)
    assert "\n" not in message and "missing: jaxlib" in message and "bottleneck-cache[jax]" in message


def test_mixed_precision_with_a_child_runtime_asks_that_backend_not_tensorflow(monkeypatch):
    from extract import devices
    from extract.errors import ExtractError

    def tensorflow_asked():
        raise AssertionError("TensorFlow's GPUs asked for a base that JAX computes")

    monkeypatch.delenv(devices.ALLOW_CPU_MIXED_ENV, raising=False)
    monkeypatch.setattr(devices, "gpus", tensorflow_asked)
    devices.check_compute_device("mixed_float16", "jax")  # its child asks JAX (below)
    monkeypatch.setattr(devices, "gpus", lambda: [])
    with pytest.raises(ExtractError, match="none visible to tensorflow"):
        devices.check_compute_device("mixed_float16", "tensorflow")


@needs_jax
def test_mixed_precision_on_jax_without_a_gpu_is_refused_by_the_child_in_one_line(dataset, tmp_path, monkeypatch):
    from dataclasses import replace

    from extract import devices

    monkeypatch.delenv(devices.ALLOW_CPU_MIXED_ENV, raising=False)
    with pytest.raises(RuntimeUnavailable) as error:
        run_extraction(dataset, tmp_path / "store", replace(TINY, mixed_precision=True),
                       RunOptions(batch_size=8, runtime="jax"))
    message = str(error.value)
    assert "\n" not in message and "none visible to jax" in message and "mixed_float16" in message


def test_a_base_on_a_gpu_gets_every_core_but_one_decoding(monkeypatch):
    from types import SimpleNamespace

    from extract import feeder
    from extract.runner import decode_workers_for, input_path_label

    monkeypatch.setattr(feeder, "available_cores", lambda: 16)
    task = SimpleNamespace(decode_workers=None, runtime="jax", config=SimpleNamespace(augment=None))
    assert decode_workers_for(task, "GPU:0 (NVIDIA H200)") == 15  # decoding is the bound there
    assert input_path_label(task, 15) == "15 decode workers"
    assert decode_workers_for(task, "CPU") is None  # extract.pipeline's choice: the base needs the cores
    assert decode_workers_for(SimpleNamespace(**{**vars(task), "runtime": "tensorflow"}), "GPU:0") is None  # tf.data
    assert decode_workers_for(SimpleNamespace(**{**vars(task), "decode_workers": 3}), "GPU:0") == 3  # as asked


def test_options_check_runtime_names_in_a_leaf_that_imports_no_runtime():
    """extract.options -> runtimes.choice -> runtimes -> (int8, onnx, keras_backend) -> extractor -> options was
    a circle; the names and their check now live in extract/runtimes/names.py, which imports no runtime."""
    import ast

    def imported(path):
        tree = ast.parse((REPO / path).read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | \
            {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    assert {m for m in imported("extract/runtimes/names.py") if m.startswith("extract")} == {"extract.errors"}
    assert not {m for m in imported("extract/options.py") if m.startswith("extract.runtimes")} - {"extract.runtimes.names"}
    from extract.options import RunOptions
    from extract.runtimes import RUNTIMES, register_runtime
    from extract.runtimes.names import RUNTIMES as NAMED

    assert NAMED is RUNTIMES  # one registry: a registered runtime is a name options take
    register_runtime("planted", lambda: None)
    try:
        assert RunOptions(runtime="planted").runtime == "planted"
    finally:
        RUNTIMES.pop("planted")
    with pytest.raises(Exception, match="Unknown runtime 'planted'. Allowed: auto, tensorflow"):
        RunOptions(runtime="planted")
