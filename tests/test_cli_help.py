"""Every help screen of both CLIs shows each option's help text whole (rich markup eats an unescaped
"[...]") and its default; --version, and -q/-v refused together as a usage error."""
from __future__ import annotations

import re
from enum import Enum

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from extract.cli import app as extract_app
from heads.cli import app as heads_app

runner = CliRunner()
APPS = {"extract": extract_app, "heads": heads_app}
BOX = re.compile(r"[│╭╮╰╯─]")


def _commands():
    for app_name, app in APPS.items():
        group = typer.main.get_command(app)
        yield app_name, app, None, group  # the app's own options (--version, -q, -v)
        for name, command in group.commands.items():
            yield app_name, app, name, command


COMMANDS = list(_commands())


def _flat(text: str) -> str:
    return " ".join(BOX.sub(" ", text).split())


def _shown_default(option) -> str | None:
    """What typer prints after "[default: " for this option (None: nothing is owed, e.g. a plain switch)."""
    if isinstance(option.show_default, str):
        return f"({option.show_default})"  # typer writes a text default in brackets
    if option.is_flag and not option.secondary_opts:
        return None  # a switch: off unless given
    default = option.default
    if default is None:
        return "MISSING"  # an optional option without a default to show: the test fails on it
    if option.is_flag:
        names = option.opts if default else option.secondary_opts
        return names[0].lstrip("-")
    if isinstance(default, Enum):
        return str(default.value)
    return str(default)


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)  # one line per option: nothing interleaved


@pytest.mark.parametrize("app_name,app,name,command", COMMANDS,
                         ids=[f"{a} {n or '(app)'}" for a, _, n, _ in COMMANDS])
def test_help_shows_every_text_and_default(wide, app_name, app, name, command):
    result = runner.invoke(app, ([name] if name else []) + ["--help"])
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    for param in command.params:
        if param.name == "help" or getattr(param, "hidden", False):
            continue
        text = getattr(param, "help", None)
        if text:  # whole: an unescaped "[...]" would have been eaten by rich markup
            assert _flat(text.replace("\\[", "[")) in shown, f"{app_name} {name} {param.opts}: help text cut"
        if param.param_type_name == "option" and not param.required:  # typer vendors its own click
            expected = _shown_default(param)
            if expected is not None:
                assert expected != "MISSING", f"{app_name} {name} {param.opts}: no default shown (show_default=...)"
                assert f"[default: {_flat(expected)}]" in shown, f"{app_name} {name} {param.opts}: default not shown"
    assert "[default: ]" not in shown


def test_help_of_run_names_the_ray_extra():
    result = runner.invoke(extract_app, ["run", "--help"], env={"TERMINAL_WIDTH": "400"})
    assert '.[ray]' in _flat(result.output)


@pytest.mark.parametrize("app", APPS.values(), ids=APPS.keys())
def test_version_and_conflicting_verbosity(app):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.fullmatch(r"bottleneck-cache \S+\n", result.stdout)
    both = runner.invoke(app, ["-q", "-v", "--help"])
    assert both.exit_code == 0  # --help is eager: shown before the options are judged
    clash = runner.invoke(app, ["-q", "-v", "kinds" if app is heads_app else "backbones"])
    assert clash.exit_code == 2 and "choose one of --quiet and --verbose" in _flat(clash.output)
