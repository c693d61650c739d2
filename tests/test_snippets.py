"""Every code block of README.md and docs/*.md meant to run runs, as written, page by page.

Each page gets a fresh folder (tests/snippets.py): generated photos in my_photos/ and new_photos/, the real
weights at ../shared/weights and in BOTTLENECK_WEIGHTS_DIR (so `--weights imagenet` resolves there, as
offline; no download is tried), the tool's commands on PATH. Shell blocks run in bash with -euo pipefail;
a page's Python blocks share one namespace, as a notebook's cells do. The README's "your own photos" path
is then checked for what it promises: one configuration, the heads, predictions of the new photos, an
export folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.snippets import (NO_RUN, PAGE_DATA, PYTHON, SHELL, code_blocks, documentation_pages, make_workspace,
                            page_blocks)

PAGES = [path for path in documentation_pages() if any(b.runs_as for b in page_blocks(path))]
BIN = Path(sys.executable).parent


def block_env(work: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "BOTTLENECK_WEIGHTS_DIR": str(work.parent / "shared" / "weights"), "TF_CPP_MIN_LOG_LEVEL": "2",
            "COLUMNS": "80", "KERAS_HOME": str(work.parent / "keras_home")}  # a download would land here, unused


def run_shell(block, work: Path, env: dict[str, str]) -> None:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (f"{block.where} failed (exit {result.returncode}):\n{block.code}\n"
                                    f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")


def run_python(block, namespace: dict) -> None:
    try:
        exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 - the project's own pages
    except Exception as error:
        raise AssertionError(f"{block.where} failed: {type(error).__name__}: {error}\n{block.code}") from error


def test_the_parser_finds_blocks_languages_and_markers():
    text = ("intro\n```bash\necho a\n```\n<!-- no-run -->\n```python\nimport nothing_here\n```\n"
            "1. item\n   ```sh\n   echo b\n   ```\n```text\nnot code\n```\n```\nplain\n```\n")
    blocks = code_blocks(text, "page.md")
    assert [(b.line, b.language, b.runs_as) for b in blocks] == [
        (2, "bash", SHELL), (6, "python", None), (10, "sh", SHELL), (13, "text", None), (16, "", None)]
    assert blocks[2].code == "echo b\n"  # the list item's indentation removed
    with pytest.raises(ValueError, match="never closed"):
        code_blocks("```bash\necho a\n", "broken.md")


def test_every_page_is_read_and_the_readme_runs_blocks():
    assert REPO / "README.md" in PAGES  # the README's path is run, not skipped by a parsing slip
    for path in documentation_pages():
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):  # a marker must sit right above a fence
            if line.strip() == NO_RUN:
                following = text.splitlines()[number] if number < len(text.splitlines()) else ""
                assert following.lstrip().startswith(("```", "~~~")), f"{path.name}:{number}: {NO_RUN} not above a fence"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_the_page_code_blocks_run(page, shared_weights, tmp_path, monkeypatch):
    work = make_workspace(tmp_path, shared_weights)
    if page.name in PAGE_DATA:
        PAGE_DATA[page.name](work)
    env = block_env(work)
    monkeypatch.chdir(work)
    for name in ("BOTTLENECK_WEIGHTS_DIR", "KERAS_HOME", "COLUMNS"):
        monkeypatch.setenv(name, env[name])
    namespace: dict = {"__name__": "__snippet__"}
    for block in page_blocks(page):
        if block.runs_as == SHELL:
            run_shell(block, work, env)
        elif block.runs_as == PYTHON:
            run_python(block, namespace)
    if page.name == "README.md":
        check_the_readme_path(work, env)


def check_the_readme_path(work: Path, env: dict[str, str]) -> None:
    """What the README's "your own photos" section says happened, did: the download, the folder of weights
    and the file named are one configuration; heads were fitted on three classes and predict the new photos;
    the export folder is whole."""
    def cli(*args: str) -> dict:
        result = subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert len(cli("extract", "ls", "--store", "cache/", "--json")["configs"]) == 1
    heads = cli("heads", "list", "--store", "cache/", "--json")
    assert sorted(h["kind"] for h in heads) == ["dense", "logreg", "logreg"]  # CLI: logreg, dense; Python: logreg
    predicted = cli("heads", "predict", "--store", "cache/", "--head", "dense", "new_photos/", "--format", "json")
    assert predicted["classes"] == ["birds", "cats", "dogs"]
    # new_photos/photo<i> is of class i % 3 (tests/snippets.py): the README's head gets them right
    assert [p["label"] for p in predicted["predictions"]] == ["birds", "cats", "dogs", "birds"]
    assert {"model.keras", "labels.txt", "preprocessing.json", "predict.py"} <= set(os.listdir(work / "my_model"))
    assert (work / "my_model" / "labels.txt").read_text().split() == ["birds", "cats", "dogs"]
