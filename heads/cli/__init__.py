"""`heads`: the command-line face of the heads API (same parameter names).

One module per family of commands (fit; list/eval/kinds; predict; export; report/compare; finetune; ensemble;
the `inspect` group of data analyses),
all sharing heads.cli.common; this module only assembles them into the `heads` app. Options before the
command (--version, -q/--quiet, -v/--verbose) come from extract.cli_support, shared with `extract`.
"""
from __future__ import annotations

import typer

from extract import cli_support
from heads.cli import ensemble, export, finetune, fit, inspect, inspect_data, predict, report
from heads.cli.common import say

app = typer.Typer(help="Stage two: train, evaluate, compare and use classifier heads on cached features.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(cli_support.common_options(say))
app.command()(fit.fit)
app.command("list")(inspect.list_heads)
app.command("eval")(inspect.evaluate)
app.command()(predict.predict)
app.command()(export.export)
app.command()(report.report)
app.command()(report.compare)
app.command()(inspect.kinds)
app.command()(finetune.finetune)
app.command()(ensemble.ensemble)
app.add_typer(inspect_data.app, name="inspect")

if __name__ == "__main__":
    app()
