"""examples/quickstart.ipynb runs from top to bottom, as a user would run it, on generated photos.

The same folder as the README's code blocks (tests/snippets.py): my_photos/ of three classes, new_photos/,
the real weights through BOTTLENECK_WEIGHTS_DIR. The kernel is this Python (ipykernel), started in that
folder; any cell that raises fails the test, and the outputs are checked for what the notebook promises.
"""
from __future__ import annotations

import os

import pytest

from tests.conftest import REPO
from tests.snippets import make_workspace

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def test_the_notebook_is_saved_without_outputs():
    nbformat = pytest.importorskip("nbformat", reason="SKIPPED: nbformat is not installed (the test extra)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_the_quickstart_notebook_runs(shared_weights, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="SKIPPED: nbformat is not installed (the test extra)")
    nbclient = pytest.importorskip("nbclient", reason="SKIPPED: nbclient is not installed (the test extra)")
    pytest.importorskip("ipykernel", reason="SKIPPED: ipykernel is not installed (the test extra)")
    work = make_workspace(tmp_path, shared_weights)
    monkeypatch.setenv("BOTTLENECK_WEIGHTS_DIR", str(tmp_path / "shared" / "weights"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # a download would land here, unused
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()

    def text(cell) -> str:
        return "".join(out.get("text", "") + "".join(out.get("data", {}).get("text/plain", ""))
                       for out in cell.outputs)

    outputs = [text(cell) for cell in notebook.cells if cell.cell_type == "code"]
    assert "36 extracted, 0 already cached, 0 rejected" in outputs[1]
    assert "mistakes among 6 validation photos" in outputs[3]
    assert any(out.get("data", {}).get("image/png") for out in notebook.cells[
        [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"][4]].outputs)  # the worst photos drawn
    assert "accuracy" in outputs[2] and "validation" in outputs[2]  # FitResult.to_frame
    assert "new_photos/photo0.png" in outputs[5] and "classes: ['birds' 'cats' 'dogs']" in outputs[5]
    assert "predicted: ['birds', 'cats', 'dogs', 'birds']" in outputs[5]  # photo<i> is of class i % 3
    assert "checked on" in outputs[6] and "predict.py" in outputs[6]
    lines = outputs[7].strip().splitlines()  # predict.py of the export folder, one line per new photo
    assert len(lines) == 4 and all(os.path.basename(f"photo{i}.png") in line for i, line in enumerate(lines))
    assert [line.split()[1] for line in lines] == ["birds", "cats", "dogs", "birds"]  # photo<i> is of class i % 3
