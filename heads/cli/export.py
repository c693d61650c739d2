"""`heads export`: a head with its backbones as one model from raw images (thin over heads.export)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from heads.cli.common import HANDLED, HeadOption, console, fail


def export(
    head: HeadOption,
    out: Annotated[Path, typer.Option(help="The .keras file to write.")],
    store: Annotated[Optional[Path], typer.Option(help="Feature store for the agreement check.", show_default="the head's own")] = None,
    check: Annotated[int, typer.Option(help="Store images to compare the exported model with the head on.")] = 8,
) -> None:
    """One Keras model from raw images to probabilities: resize + preprocessing + frozen base + head."""
    from heads.export import export_head

    try:
        result = export_head(head, out, store=store, check=check)
    except HANDLED as error:
        fail(error)
        return
    checked = (f"agrees with the head on {result.checked} store images (top class {result.agreement:.0%}, "
               f"largest probability difference {result.max_difference:.2e})" if result.checked
               else "no store images to check it against")
    console.print(f"wrote {result.path}: {checked}. Load it with keras.models.load_model; input RGB 0..255, any size.",
                  highlight=False)
