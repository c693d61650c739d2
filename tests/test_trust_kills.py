"""Issue 20, held up and kept so: a `heads fit` or `heads export` killed (SIGKILL) at any step of writing its folder
publishes nothing half-written; the store's other heads stay listed and usable, and the same command then succeeds.

Each kill happens in a child process at a chosen write (the model saved, the record written, the folder synced
before its rename), so the step is exact rather than a race against a timer."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heads.cli import app
from heads.export import export_head
from heads.fit import fit_head
from tests.test_heads_support import binary_store, private_copy  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

# module, function, condition on its first argument (a path) that triggers the kill; then the call to make
KILLED_AT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
import importlib
module = importlib.import_module({module!r})
real = getattr(module, {function!r})
def killed(*args, **kwargs):
    if {condition}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(module, {function!r}, killed)
{call}
"""
FIT_STEPS = {
    "model saved, rows next": ("heads.record", "write_rows", "True"),
    "head.json being written": ("heads.record", "write_json", "Path(args[0]).name == 'head.json'"),
    "folder synced, before its rename": ("store.atomic", "fsync_dir", "Path(args[0]).name.startswith('.')"),
}
EXPORT_STEPS = {
    "model written and checked, sidecars next": ("heads.formats", "write_sidecars", "True"),
    "folder synced, before its rename": ("store.atomic", "fsync_dir", "Path(args[0]).name.startswith('.')"),
}


def killed_child(module: str, function: str, condition: str, call: str) -> None:
    script = KILLED_AT.format(repo=str(REPO), module=module, function=function, condition=condition, call=call)
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


@pytest.fixture
def store(binary_store, tmp_path) -> Path:
    store = private_copy(binary_store, tmp_path / "store")
    fit_head(store, "logreg", out=store / "heads" / "good")
    return store


def listed(store: Path) -> list[str]:
    result = runner.invoke(app, ["list", "--store", str(store), "--json"])
    assert result.exit_code == 0 and "error" not in result.stderr, result.output
    return [Path(row["folder"]).name for row in json.loads(result.stdout)]


@pytest.mark.parametrize("step", FIT_STEPS)
def test_a_fit_killed_while_writing_publishes_nothing(store, step):
    out = store / "heads" / "killed"
    module, function, condition = FIT_STEPS[step]
    killed_child(module, function, condition,
                 f"from heads.fit import fit_head; fit_head({str(store)!r}, 'logreg', out={str(out)!r})")
    assert not out.exists()  # no half head: the staging folder was never renamed
    assert listed(store) == ["good"]
    assert runner.invoke(app, ["eval", "--head", "good", "--store", str(store)]).exit_code == 0
    again = fit_head(store, "logreg", out=out)  # the same command then succeeds
    assert sorted(listed(store)) == ["good", "killed"] and (again.folder / "head.json").is_file()


@pytest.mark.parametrize("step", EXPORT_STEPS)
def test_an_export_killed_while_writing_publishes_nothing(store, tmp_path, step):
    out = tmp_path / "export"
    module, function, condition = EXPORT_STEPS[step]
    head = store / "heads" / "good"
    killed_child(module, function, condition,
                 f"from heads.export import export_head; export_head({str(head)!r}, {str(out)!r}, check=2)")
    assert not out.exists()
    exported = export_head(head, out, check=2)
    assert exported.checked == 2 and exported.agreement == 1.0 and (out / "model.keras").is_file()
