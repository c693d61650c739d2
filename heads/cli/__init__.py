"""`heads`: the command-line face of the heads API (same parameter names).

One module per family of commands (fit; list/eval/predict/export/kinds; finetune), all sharing
heads.cli.common; this module only assembles them into the `heads` app.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import typer  # noqa: E402

from heads.cli import finetune, fit, use  # noqa: E402

app = typer.Typer(help="Stage two: train, evaluate, compare and use classifier heads on cached features.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.command()(fit.fit)
app.command("list")(use.list_heads)
app.command("eval")(use.evaluate)
app.command()(use.predict)
app.command()(use.export)
app.command()(use.kinds)
app.command()(finetune.finetune)
