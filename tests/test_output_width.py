"""Help screens at 80 columns (a notebook, a CI log): no option name cut short, boolean flags shown as flags
(no `<bool>` as if they took a value), `extract run`'s long list grouped in panels."""
from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from extract.cli import app as extract_app
from heads.cli import app as heads_app

runner = CliRunner()
APPS = {"extract": extract_app, "heads": heads_app}
SCREENS = [(name, app, command) for name, app in APPS.items()
           for command in [None, *typer.main.get_command(app).commands]]


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)


@pytest.mark.parametrize("name,app,command", SCREENS, ids=[f"{n} {c or '(app)'}" for n, _, c in SCREENS])
def test_help_at_80_columns_cuts_nothing_and_shows_flags_as_flags(narrow, name, app, command):
    result = runner.invoke(app, ([command] if command else []) + ["--help"])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "…" not in result.output, result.output  # an option name or type cut short
    assert "<bool>" not in result.output, result.output


def test_extract_run_help_is_grouped_in_panels(narrow):
    text = runner.invoke(extract_app, ["run", "--help"]).output
    panels = [line.strip("╭─╮ ") for line in text.splitlines() if line.startswith("╭─")]
    assert panels == ["Options", "What changes the features", "How the data folder is read", "Views",
                      "Speed and scale (never the numbers)"]
    assert len(text.splitlines()) < 200  # 264 lines, names cut, before the panels and the flags
