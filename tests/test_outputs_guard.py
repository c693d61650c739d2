"""Issue 20: the `--out` of every heads command never lands on a store's or a head's records, and replaces an
existing file only when it is that command's own kind of output (or with --force)."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from heads.cli import app
from tests.test_heads_support import binary_store, new_images, private_copy  # noqa: F401
from tests.test_trust_heads import _error_line, _heads, fitted_store, store  # noqa: F401

runner = CliRunner()

# command -> (arguments before --out, given the store, a head folder and new images; what --out names)
COMMANDS = {
    "predict": (lambda s, h, i: ["predict", "--head", str(h), str(i)], "file"),
    "inspect duplicates": (lambda s, h, i: ["inspect", "duplicates", "--store", str(s)], "file"),
    "report": (lambda s, h, i: ["report", "--head", str(h)], "folder"),
    "compare": (lambda s, h, i: ["compare", "--store", str(s)], "folder"),
    "inspect report": (lambda s, h, i: ["inspect", "report", "--store", str(s)], "folder"),
    "export": (lambda s, h, i: ["export", "--head", str(h)], "folder"),
    "fit": (lambda s, h, i: ["fit", "--store", str(s), "--kind", "logreg"], "folder"),
}
FILE_TARGETS = ["store.json", "HEAD/head.json", "HEAD/model.skops", "configs/x.csv", "datasets/x.csv"]
FOLDER_TARGETS = ["HEAD", "HEAD/sub", "configs", "datasets/sub"]


def snapshot(store: Path) -> dict:
    return {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}


def place(target: str, store: Path, head: Path) -> Path:
    return head / target[5:] if target.startswith("HEAD/") else head if target == "HEAD" else store / target


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_writes_onto_records(store, tmp_path, command):
    arguments, takes = COMMANDS[command]
    head = _heads(store)["logreg"]
    images = new_images(tmp_path / "new", count=1)
    before = snapshot(store)
    for target in FILE_TARGETS if takes == "file" else FOLDER_TARGETS:
        if command == "report" and target == "HEAD":
            continue  # a head's report page is written in its folder (the default): see the last test
        out = place(target, store, head)
        result = runner.invoke(app, [*arguments(store, head, images), "--out", str(out)])
        line = _error_line(result)
        assert result.exit_code == 3 and "Refusing to write" in line, (target, line)
    assert snapshot(store) == before  # nothing written, nothing changed


@pytest.mark.parametrize("command, written", [
    ("predict", "predictions.csv"), ("inspect duplicates", "table.csv"),
    ("report", "report-{head}.html"), ("compare", "compare.html"),
])
def test_an_existing_file_of_another_kind_is_kept_without_force(store, tmp_path, command, written):
    arguments, takes = COMMANDS[command]
    head = _heads(store)["logreg"]
    images = new_images(tmp_path / "new", count=1)
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / written.format(head=head.name)
    path.write_text("id,label\na.jpg,cats\n")  # e.g. the user's labels CSV
    out = [str(path if takes == "file" else folder)]
    command_line = [*arguments(store, head, images), "--out", *out]
    refused = runner.invoke(app, command_line)
    assert refused.exit_code == 3 and "Refusing to overwrite" in _error_line(refused), refused.output
    assert path.read_text() == "id,label\na.jpg,cats\n"
    forced = runner.invoke(app, [*command_line, "--force"])
    assert forced.exit_code == 0, forced.output
    assert path.read_text() != "id,label\na.jpg,cats\n"
    again = runner.invoke(app, command_line)  # its own kind of output: replaced without --force
    assert again.exit_code == 0, again.output


def test_report_still_writes_its_page_in_the_head_folder(store):
    head = _heads(store)["logreg"]
    result = runner.invoke(app, ["report", "--head", str(head)])
    assert result.exit_code == 0 and (head / f"report-{head.name}.html").is_file(), result.output
    assert runner.invoke(app, ["report", "--head", str(head)]).exit_code == 0
