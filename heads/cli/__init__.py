"""`heads`: the command-line face of the heads API (same parameter names).

One module per family of commands (fit; list/eval/kinds; predict; export; report/compare; finetune; ensemble; rm;
the `inspect` group of data analyses),
all sharing heads.cli.common; this module only assembles them into the `heads` app. Options before the
command (--version, -q/--quiet, -v/--verbose) come from extract.cli_support, shared with `extract`.
"""
from __future__ import annotations

from functools import partial

import typer

from extract import cli_support
from heads.cli import ensemble, export, finetune, fit, inspect_data, listing, predict, remove, report
from heads.cli.common import say

app = typer.Typer(help="Stage two: train, evaluate, compare and use classifier heads on cached features.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=cli_support.FlagsGroup)
command = partial(app.command, cls=cli_support.FlagsCommand)  # every command's help shows flags as flags
app.callback()(cli_support.common_options(say))
command()(fit.fit)
command("list")(listing.list_heads)
command("eval")(listing.evaluate)
command()(predict.predict)
command()(export.export)
command()(report.report)
command()(report.compare)
command()(listing.kinds)
command()(finetune.finetune)
command()(ensemble.ensemble)
command("rm")(remove.remove)
app.add_typer(inspect_data.app, name="inspect")

if __name__ == "__main__":
    app()
