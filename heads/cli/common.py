"""What every `heads` command shares: the consoles, the one-line error answer, number formatting, progress bars,
and how much is said (-q/-v, set by the app's callback: extract.cli_support). Results go to stdout (`console`);
progress bars, stages and notes to stderr (`errors`), so a pipe or a file holds the results alone.

Exit codes: 2 for a usage error (typer/Click's own), 3 for input the tool refuses (a bad head, store,
kind or parameter: every ValueError the API raises), 1 for a failure while working (an OSError such as a
full disk). Anything else is a bug and is raised as it is, with its traceback.
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from extract import cli_support
from store.printable import SafeConsole
from heads.errors import first_line

# SafeConsole: no control character of a file name or label reaches the terminal (store.printable)
console = SafeConsole()
errors = SafeConsole(stderr=True)

REFUSED, FAILED = cli_support.REFUSED, cli_support.FAILED
HeadOption = Annotated[str, typer.Option(help="Head folder, or head id (or unique prefix) with --store.")]
ForceOption = Annotated[bool, typer.Option(help="Replace an existing --out file even when this command did not "
                                                 "write it.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON (machine-readable) instead of tables.")]
HANDLED = (ValueError, OSError)  # HeadError, StoreError, sklearn's InvalidParameterError..., and I/O failures


def fail(error: BaseException) -> None:
    """Print the error as one line and exit with its code (see the module docstring)."""
    errors.print(f"[bold red]error:[/] {escape(first_line(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=cli_support.exit_code(error))


def number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{int(count)} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return str(count)


def output(message: str) -> None:
    """A result line: printed whatever the verbosity (as written: a path's brackets are no markup)."""
    console.print(message, highlight=False, soft_wrap=True, markup=False)


def epoch_progress() -> Progress:
    return Progress(TextColumn("[bold]epoch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=errors, transient=True, disable=cli_support.quiet())


def stage_printer(message: str) -> None:
    """A stage of the work (on stderr, beside the progress bars), unless --quiet."""
    if not cli_support.quiet():
        errors.print(f"[dim]{escape(message)}[/]", highlight=False)


def print_notes(notes: list[str]) -> None:
    """The one-line notes an API call returned (rows left out, data changed...), after its result, on stderr."""
    if cli_support.quiet():
        return
    for note in notes:
        errors.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """An information line on stderr (the device TensorFlow computes on), never mixed into stdout's results."""
    errors.print(f"[dim]{escape(message)}[/]", highlight=False)
