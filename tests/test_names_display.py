"""File names and labels are shown safely (store.printable): no control character of a name reaches a terminal
or a report page raw (an ANSI escape could clear the screen or fake an error), and rich markup in a name is
shown as written, never interpreted."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.cli import app as extract_app
from heads.cli import app as heads_app
from store.printable import SafeConsole, printable, printable_text, shown
from tests.conftest import TINY, TINY_RUN, cli_flags, make_dataset

runner = CliRunner()
CLEAR_AND_FAKE = "\x1b[2J\x1b[31m[bold]FAKE error"  # clears the screen, turns red, and tries rich markup


def test_printable_escapes_controls_and_keeps_ordinary_text():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert printable("\x9b31m") == "\\x9b31m"  # C1: a one-byte CSI on some terminals
    assert printable("abc\u202egpj.exe") == "abc\\u202egpj.exe"  # a right-to-left override reorders what is shown
    assert printable("bad\udcff.png") == "bad\\udcff.png"  # a name that is not valid UTF-8, as Python reads it
    assert printable("chat été 🐱 [x].png") == "chat été 🐱 [x].png"
    assert printable_text("line one\nline\ttwo\x1b") == "line one\nline\ttwo\\x1b"
    assert shown("[bold]x\x07") == "\\[bold]x\\x07"


def test_safe_console_escapes_what_every_string_renders():
    from rich.table import Table

    buffer = io.StringIO()
    console = SafeConsole(file=buffer, width=80, color_system=None)
    table = Table(title=f"t{CLEAR_AND_FAKE}")
    table.add_row(f"cell{CLEAR_AND_FAKE}", shown(CLEAR_AND_FAKE))
    console.print(f"message {CLEAR_AND_FAKE}", markup=False)
    console.print(table)
    out = buffer.getvalue()
    assert "\x1b" not in out and out.count("\\x1b[2J") == 4
    assert "[bold]FAKE" in out  # the escaped cell shows its brackets as written


@pytest.fixture
def hostile_data(tmp_path: Path) -> Path:
    data = make_dataset(tmp_path / "data", per_class=4)
    (data / "train" / "cats" / f"bad{CLEAR_AND_FAKE}.jpg").write_bytes(b"no image here")
    odd = data / "train" / f"cats{CLEAR_AND_FAKE}"  # a class whose name holds the escape
    odd.mkdir()
    for i, source in enumerate(sorted((data / "train" / "cats").glob("*.png"))[:2]):
        shutil.copy(source, odd / f"copy{i}.png")
    return data


def _no_raw_control(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text, repr(text)


def test_commands_never_print_a_name_raw(hostile_data, tmp_path):
    store = tmp_path / "store"
    ran = runner.invoke(extract_app, ["run", "--data", str(hostile_data), "--store", str(store),
                                      *cli_flags(TINY, TINY_RUN)])
    assert ran.exit_code == 0, ran.output
    _no_raw_control(ran.stdout + ran.stderr)
    assert f"rejected train/cats/bad{printable(CLEAR_AND_FAKE)}.jpg: not an image" in ran.stdout
    assert f"class without a validation image: cats{printable(CLEAR_AND_FAKE)}" in ran.stderr

    listed = runner.invoke(extract_app, ["ls", "--store", str(store), "--rejected"])
    assert listed.exit_code == 0, listed.output
    _no_raw_control(listed.stdout + listed.stderr)
    assert f"bad{printable(CLEAR_AND_FAKE)}.jpg" in listed.stdout.replace("\n", "")

    fitted = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg", "--out",
                                       str(tmp_path / "head")])
    assert fitted.exit_code == 0, fitted.output
    _no_raw_control(fitted.stdout + fitted.stderr)
    assert f"[bold]FAKE" in fitted.stderr.replace("\n", "")  # the class name in a note, brackets as written

    scored = runner.invoke(heads_app, ["eval", "--head", str(tmp_path / "head"), "--split", "train"])
    assert scored.exit_code == 0, scored.output
    _no_raw_control(scored.stdout + scored.stderr)
    assert "\\x1b[2J" in scored.stdout

    predicted = runner.invoke(heads_app, ["predict", "--head", str(tmp_path / "head"), str(hostile_data / "train"),
                                          "--format", "table"])
    assert predicted.exit_code == 0, predicted.output
    _no_raw_control(predicted.stdout + predicted.stderr)


def test_report_pages_show_names_escaped(hostile_data, tmp_path):
    from extract.api import run_extraction
    from heads.fit import fit_head
    from heads.report import report_head

    store = tmp_path / "store"
    run_extraction(hostile_data, store, TINY, TINY_RUN)
    fit_head(store, "logreg", out=tmp_path / "head")
    page = Path(report_head(tmp_path / "head", out=tmp_path / "page.html")).read_text()
    _no_raw_control(page)
    assert "\\x1b[2J\\x1b[31m[bold]FAKE error" in page


def test_predictions_written_to_a_terminal_show_names_escaped(monkeypatch):
    from heads.predict_output import Prediction, write_predictions

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    name = f"photos/bad{CLEAR_AND_FAKE}.png"
    prediction = Prediction(path=name, sha256="0" * 64, features="store", classes=["cats", "dogs"],
                            probabilities=[0.9, 0.1], label="cats", scores=[0.9, 0.1])
    for stream, kept in ((Terminal(), False), (io.StringIO(), True)):  # a pipe or a file keeps the name exactly
        monkeypatch.setattr("sys.stdout", stream)
        write_predictions([prediction], "-", "csv", 1, {"columns": ["cats", "dogs"]})
        assert (name in stream.getvalue()) == kept and ("\x1b" in stream.getvalue()) == kept
