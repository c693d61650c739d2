"""Commands that need no TensorFlow never import it (issue 12, "Start fast"): `extract ls` and `verify`,
and `heads fit/list/eval/report/compare` of a scikit-learn kind, each run in a fresh process."""
from __future__ import annotations

import pytest

from tests.test_extractor_start_fast import run_python
from tests.test_heads_support import binary_store, private_copy  # noqa: F401

pytestmark = pytest.mark.slow


def _cli(module: str, args: list[str]) -> str:
    return (f"import json, sys; from {module} import app; "
            f"app({args!r}, standalone_mode=False); "
            "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")


@pytest.fixture(scope="module")
def store(binary_store, tmp_path_factory):
    return private_copy(binary_store, tmp_path_factory.mktemp("fast") / "store")


def test_store_commands_import_no_tensorflow(store):
    assert run_python(_cli("extract.cli", ["ls", "--store", str(store)])) == []
    assert run_python(_cli("extract.cli", ["verify", "--store", str(store), "--json"])) == []


def test_a_scikit_learn_head_from_fit_to_report_imports_no_tensorflow(store, tmp_path):
    head = tmp_path / "logreg"
    assert run_python(_cli("heads.cli", ["fit", "--store", str(store), "--kind", "logreg", "--out", str(head)])) == []
    for args in (["list", "--store", str(store)], ["eval", "--head", str(head), "--split", "train"],
                 ["report", "--head", str(head), "--out", str(tmp_path)],
                 ["compare", "--store", str(store), "--head", str(head), "--out", str(tmp_path)]):
        assert run_python(_cli("heads.cli", args)) == [], args
    assert (tmp_path / "compare.html").is_file()


def test_the_check_can_fail(store, tmp_path):
    """A dense head is Keras: fitting it does import TensorFlow, and the check above sees it."""
    args = ["fit", "--store", str(store), "--kind", "dense", "--epochs", "1", "--out", str(tmp_path / "dense")]
    assert run_python(_cli("heads.cli", args)) == ["keras", "tensorflow"]
