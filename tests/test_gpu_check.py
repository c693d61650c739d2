"""bench/gpu_check.py: the one GPU check runs on a CPU too (every runtime installed, the same images),
and writes its JSON and Markdown table."""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from bench.gpu_report import jpeg_folder, pick_images
from tests.conftest import REPO, make_dataset

SMALL = "mobilenet_2_5_128_tf_no_top.h5"


def test_gpu_check_runs_on_a_cpu_and_writes_json_and_markdown(tmp_path, shared_weights):
    data = make_dataset(tmp_path / "data", per_class=4, splits=("train",), ext="jpg")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--out", str(out), "--data", str(data),
         "--runtimes", "tensorflow,jax,torch", "--configs", f"mobilenet:128:{SMALL}", "--images", "4",
         "--cpu-e2e-images", "6", "--min-seconds", "0", "--cpu-batch-size", "4"],
        env={**os.environ, "BOTTLENECK_SHARED": str(shared_weights.parent)},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    expected = {"tensorflow/cpu", "jax/cpu"} | ({"torch/cpu"} if "torch" not in report["not_installed"] else set())
    assert set(report["runs"]) == expected and report["reference"] == "tensorflow/cpu"
    for key, run in report["runs"].items():
        result = run["configs"]["mobilenet@128"]
        assert run["device"] == "CPU" and result["ok"] and result["max_rel"] <= 1e-3, key
        assert result["base_images_per_second"] > 0 and result["e2e_images"] == 6 and result["e2e_images_per_second"] > 0
    # its own process, Keras on JAX there: in process, so compared here, by this script, not by the run
    assert "no TensorFlow reference" in report["runs"]["jax/cpu"]["configs"]["mobilenet@128"]["runtime_check"]
    table = (out / "gpu_check.md").read_text()
    assert "| jax/cpu | CPU | mobilenet@128 |" in table and "NO GPU FOUND" in done.stdout


def test_e2e_jpegs_beyond_the_staged_photos_are_distinct_variants_of_them(tmp_path):
    photos = pick_images(make_dataset(tmp_path / "data", per_class=2, splits=(), ext="jpg"), 10)
    jpeg_folder(photos, 20, tmp_path / "e2e")
    made = sorted(p for p in (tmp_path / "e2e").rglob("*.jpg"))
    assert len(made) == 20 and len({p.read_bytes() for p in made}) == 20
    assert {p.parent.name for p in made} == {"cats", "dogs"}
    with Image.open(made[0]) as image:
        assert image.format == "JPEG"
