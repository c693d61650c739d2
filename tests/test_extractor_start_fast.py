"""A rerun with nothing to extract never imports TensorFlow or Keras (issue 12, "Start fast"):
the identity comes from the weights file's sha256, the feature shape from the store's record."""
import json
import os
import subprocess
import sys

import pytest

from extract import ExtractOptions, RunOptions, run_extraction
from tests.conftest import REPO, SYNTHETIC_WEIGHTS, make_dataset

pytestmark = pytest.mark.slow

CHECK = "; import sys; print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))"


def run_python(code: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("weights", ["none", "file"])
def test_a_rerun_with_nothing_to_extract_imports_no_tensorflow(tmp_path, synthetic_weights, weights):
    data, store = make_dataset(tmp_path / "data", per_class=2), tmp_path / "store"
    weights = "none" if weights == "none" else str(synthetic_weights / SYNTHETIC_WEIGHTS)
    options = dict(backbone="mobilenet", weights=weights, size=32, alpha=0.25, layer="conv_pw_1_relu")
    first = run_extraction(data, store, ExtractOptions(**options), RunOptions(batch_size=4))
    assert first.extracted == 8

    api = (f"import json; from extract import ExtractOptions, run_extraction; "
           f"s = run_extraction({str(data)!r}, {str(store)!r}, ExtractOptions(**{options!r})); "
           f"assert (s.extracted, s.cached) == (0, 8), s; "
           f"assert s.config.config_id == {first.config.config_id!r} and s.config.feature_shape == (16, 16, 16)")
    assert run_python(api + CHECK) == []

    args = ["run", "--data", str(data), "--store", str(store)] + [
        part for key, value in options.items() for part in (f"--{key}", str(value))]
    cli = (f"import json; from extract.cli import app; "
           f"app({args!r}, standalone_mode=False)")
    assert run_python(cli + CHECK) == []


def test_the_first_run_does_import_it(tmp_path):
    """The check above can fail: a run with work to do builds the model."""
    data = make_dataset(tmp_path / "data", per_class=1)
    code = (f"import json; from extract import ExtractOptions, RunOptions, run_extraction; "
            f"run_extraction({str(data)!r}, {str(tmp_path / 'store')!r}, ExtractOptions('mobilenet', 'none', "
            f"size=32, alpha=0.25, layer='conv_pw_1_relu'), RunOptions(batch_size=4))")
    assert run_python(code + CHECK) == ["keras", "tensorflow"]
