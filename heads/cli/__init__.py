"""`heads`: the command-line face of the heads API (same parameter names).

One module per family of commands (fit; list/eval/kinds; predict; export; finetune; ensemble), all sharing
heads.cli.common; this module only assembles them into the `heads` app.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import typer  # noqa: E402

from heads.cli import ensemble, export, finetune, fit, inspect, predict  # noqa: E402

app = typer.Typer(help="Stage two: train, evaluate, compare and use classifier heads on cached features.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(fit.fit)
app.command("list")(inspect.list_heads)
app.command("eval")(inspect.evaluate)
app.command()(predict.predict)
app.command()(export.export)
app.command()(inspect.kinds)
app.command()(finetune.finetune)
app.command()(ensemble.ensemble)
