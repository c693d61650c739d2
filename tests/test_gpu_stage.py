"""bench/gpu_stage.sh: the folder that travels to a device machine for bench/gpu_check.py."""
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED

SCRIPT = REPO / "bench" / "gpu_stage.sh"
SMALL_WEIGHTS = "mobilenet_2_5_128_tf_no_top.h5"
pytestmark = pytest.mark.skipif(not (SHARED / "weights" / SMALL_WEIGHTS).is_file(),
                                reason=f"shared weights not found under {SHARED} (set BOTTLENECK_SHARED)")


def stage(dest: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "BOTTLENECK_SHARED": str(SHARED), "WEIGHTS": SMALL_WEIGHTS, **env}
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
