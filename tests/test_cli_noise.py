"""Commands that run TensorFlow print no CUDA probing, absl or TFLite log lines on stderr (a user reads
them as failures on a machine without a GPU), unless -v asks for them; and they run in fresh processes,
as a user starts them, with no TF_CPP_MIN_LOG_LEVEL set beforehand."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from heads.fit import fit_head
from tests.conftest import REPO, make_dataset
from tests.test_heads_support import binary_store  # noqa: F401

pytestmark = pytest.mark.slow
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|cudart|cuda|XNNPACK", re.MULTILINE)


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_first_extraction_prints_no_native_log_lines(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2)
    result = run("extract.cli", "run", "--data", str(data), "--store", str(tmp_path / "store"), "--backbone",
                 "mobilenet", "--weights", "none", "--size", "32", "--alpha", "0.25", "--layer", "conv_pw_1_relu")
    assert "extracted" in result.stdout
    assert not NATIVE_LOG.search(result.stderr), result.stderr


def test_a_tflite_export_prints_no_native_log_lines(binary_store, tmp_path):
    head = fit_head(binary_store, "logreg", out=tmp_path / "head").folder
    result = run("heads.cli", "export", "--head", str(head), "--out", str(tmp_path / "export"), "--format",
                 "tflite", "--check", "2")
    assert "agrees with `heads predict` on 2 store images" in " ".join(result.stdout.split())
    assert not NATIVE_LOG.search(result.stderr), result.stderr
