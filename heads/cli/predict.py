"""`heads predict`: classify new images with a head (thin over heads.predict)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from heads.cli.common import HANDLED, HeadOption, console, errors, fail

OutputFormat = Enum("OutputFormat", {name: name for name in ("csv", "json")}, type=str)


def predict(
    head: HeadOption,
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (walked recursively).")],
    out: Annotated[Optional[Path], typer.Option(help="CSV or JSON file to write.", show_default="print a table")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store to reuse features from.", show_default="the head's own")] = None,
    top: Annotated[int, typer.Option(help="Classes to report per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass of the backbone.")] = 32,
    format: Annotated[Optional[OutputFormat], typer.Option(help="Output format.", show_default="from the --out suffix")] = None,
    tta: Annotated[int, typer.Option(help="Average over the plain image and K fixed test-time views (a flip, then zooms).")] = 0,
) -> None:
    """Classify new images: the head's inputs (stored features reused, else computed from the image), then the head."""
    from heads.predict import predict_images

    progress = Progress(TextColumn("[bold]predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors, transient=True)
    task = progress.add_task("", total=None)
    try:
        with progress:
            predictions = predict_images(head, inputs, store=store, out=out, top=top, batch_size=batch_size,
                                         format=format.value if format else None, tta=tta,
                                         on_progress=lambda n: progress.advance(task, n))
    except HANDLED as error:
        fail(error)
        return
    counts = {s: sum(p.features == s for p in predictions) for s in ("store", "computed")}
    failed = [p for p in predictions if p.error]
    if out is None:
        table = Table("path", "class", "probability", "features")
        for p in predictions:
            table.add_row(p.path, p.classes[0] if p.classes else "-",
                          f"{p.probabilities[0]:.4f}" if p.probabilities else p.error, p.features or "-")
        console.print(table)
    console.print(f"{len(predictions)} images: {counts['store']} from stored features, {counts['computed']} "
                  f"computed from the image, {len(failed)} unusable" + (f"; written to {out}" if out else ""),
                  highlight=False)
    for p in failed[:20]:
        console.print(f"  unusable {p.path}: {p.error}", highlight=False, soft_wrap=True)
