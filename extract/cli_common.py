"""What the `extract` commands share: where output goes, the one-line error, sizes in words.

Results go to stdout (`console`); progress bars, stages and notes go to stderr (`errors`), so a pipe or a
file gets the results alone and a notebook or CI log still shows the rest. Exit codes: see cli_support.
"""
from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from extract import cli_support
from store.printable import SafeConsole

# SafeConsole: no control character of a file name or label reaches the terminal (store.printable)
console = SafeConsole()
errors = SafeConsole(stderr=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON (machine-readable) instead of tables.")]


def human_bytes(count: float) -> str:
    """A size in bytes as people read it (1024-based: KB, MB, GB, TB)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return str(count)


def fail(message: str, code: int = cli_support.USAGE) -> None:
    """Print one error line on stderr and exit with `code`."""
    # escape: a message may hold brackets (".[ray]", a path) that rich would take for markup and drop
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def fail_on(error: BaseException) -> None:
    """One line for an error the API raised, with its exit code (3 refused input, 1 failure while working)."""
    fail(str(error), cli_support.exit_code(error))


def say(message: str) -> None:
    """An information line on stderr (dim), never mixed into stdout's results."""
    errors.print(f"[dim]{escape(message)}[/]", highlight=False)


def note(message: str) -> None:
    """A one-line note on stderr (files left out, a choice made for the user), unless --quiet."""
    if not cli_support.quiet():
        errors.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)
