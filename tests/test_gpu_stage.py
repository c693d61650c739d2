"""bench/gpu_stage.sh: the folder that travels to a device machine for bench/gpu_check.py."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED

SCRIPT = REPO / "bench" / "gpu_stage.sh"
SMALL_WEIGHTS = "mobilenet_2_5_128_tf_no_top.h5"
pytestmark = pytest.mark.skipif(not (SHARED / "weights" / SMALL_WEIGHTS).is_file(),
                                reason=f"shared weights not found under {SHARED} (set BOTTLENECK_SHARED)")


def stage(dest: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "BOTTLENECK_SHARED": str(SHARED), "WEIGHTS": SMALL_WEIGHTS, "WHEELS": "none", **env}
    return subprocess.run(["bash", str(SCRIPT), str(dest)], env=full_env, capture_output=True, text=True)


def test_stages_manifest_weights_and_first_images_of_each_class(tmp_path):
    result = stage(tmp_path / "gpu", IMAGES="10")
    assert result.returncode == 0, result.stderr
    weights = tmp_path / "gpu" / "weights"
    assert sorted(p.name for p in weights.iterdir()) == sorted(["MANIFEST.json", SMALL_WEIGHTS])
    assert (weights / SMALL_WEIGHTS).read_bytes() == (SHARED / "weights" / SMALL_WEIGHTS).read_bytes()
    for class_name in ("cats", "dogs"):
        source = sorted(p.name for p in (SHARED / "data/dogs_vs_cats/train" / class_name).glob("*.jpg"))
        staged = sorted(p.name for p in (tmp_path / "gpu/data/dogs_vs_cats/train" / class_name).iterdir())
        assert staged == source[:5]
    assert "10 JPEGs" in result.stdout


@pytest.mark.parametrize("env, message", [({"IMAGES": "ten"}, "IMAGES must be a positive integer"),
                                          ({"WEIGHTS": "missing.h5"}, "no weights file"),
                                          ({"WEIGHTS": "vgg16_imagenet_torchvision_notop.h5",
                                            "IMAGES": "100000"}, "over the 64 MiB")])
def test_bad_input_is_one_line_and_leaves_no_folder(tmp_path, env, message):
    if "vgg16" in env.get("WEIGHTS", "") and not (SHARED / "weights" / env["WEIGHTS"]).is_file():
        pytest.skip("vgg16 weights not in the shared folder")
    result = stage(tmp_path / "gpu", **env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "gpu").exists()


def test_staged_wheels_travel_with_the_folder(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "keras-3.15.1-py3-none-any.whl").write_bytes(b"a wheel")
    result = stage(tmp_path / "gpu", IMAGES="2", WHEELS=str(wheels))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gpu/wheels/keras-3.15.1-py3-none-any.whl").read_bytes() == b"a wheel"
    assert "1 wheels" in result.stdout


def test_gpu_wheels_downloads_exactly_the_listed_wheels(tmp_path):
    listed = [line.split("==")[0] for line in (REPO / "bench/gpu_wheels.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    result = subprocess.run(["bash", str(REPO / "bench/gpu_wheels.sh"), str(tmp_path / "w")], capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0 and "pip download failed" in result.stderr:
        pytest.skip(f"no package registry reachable: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "w").glob("*.whl"))
    assert names == sorted(listed) and any("cp312" in p.name for p in (tmp_path / "w").glob("optree-*.whl"))


def test_the_one_device_command_runs_the_check_on_a_cpu_and_says_no_gpu(tmp_path):
    staged = tmp_path / "gpu"
    assert stage(staged, IMAGES="4").returncode == 0
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(REPO / "bench/gpu_run.sh"), str(staged), "--runtimes", "jax", "--configs",
         f"mobilenet:128:{SMALL_WEIGHTS}", "--images", "4", "--cpu-e2e-images", "4", "--min-seconds", "0"],
        env={**os.environ, "OUT": str(out), "PYTHON": sys.executable}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]  # --require-gpu: none here
    assert "NO GPU FOUND" in result.stdout and (out / "gpu_check.json").is_file() and (out / "gpu_check.md").is_file()
