"""`heads rm`: remove heads (thin over heads.artifact.remove_head)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from extract import cli_support
from heads.cli.common import HANDLED, JsonFlag, fail, output


def remove(
    head: Annotated[list[str], typer.Option(
        help="Head folder, or head id (or unique prefix) with --store; repeatable.")],
    store: Annotated[Optional[Path], typer.Option(help="Feature store whose heads the ids name.",
                                                  show_default="none: --head is a folder")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove heads, each folder as one step. Nothing depends on a head (an ensemble holds copies of its members)."""
    from heads.artifact import remove_head, resolve_head

    try:
        folders = list(dict.fromkeys(resolve_head(h, store) for h in head))  # every one found before any goes
        removed = [remove_head(folder) for folder in folders]
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        cli_support.print_json({"removed": [str(folder) for folder in removed]})
        return
    for folder in removed:
        output(f"removed head {folder.name} ({folder})")
