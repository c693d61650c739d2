"""`heads predict`: classify new images with a head (thin over heads.predict).

With no --out the predictions go to stdout: JSON (for a pipe or a program), or a table when stdout is
a terminal (or with --format table); the counts then go to stderr, so stdout holds the data alone.
"""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from extract import cli_support
from extract.runtimes.choice import CHOICES as RUNTIME_CHOICES
from heads.cli.common import HANDLED, ForceOption, HeadOption, console, errors, fail, print_notes
from heads.errors import HeadError
from store.printable import shown

TABLE = "table"
RuntimeName = Enum("RuntimeName", {name: name for name in RUNTIME_CHOICES}, type=str)
OutputFormat = Enum("OutputFormat", {name: name for name in ("csv", "json", "wide", TABLE)}, type=str)


def predict(
    head: HeadOption,
    inputs: Annotated[list[Path], typer.Argument(
        help="Image files, folders (walked recursively), or CSV/TSV files listing images (a file or id column, "
             "relative to the CSV's folder).")],
    out: Annotated[Optional[Path], typer.Option(
        help="File to write (CSV, JSON, or wide CSV with --format wide).",
        show_default="stdout: JSON, or a table on a terminal")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store to reuse features from.", show_default="the head's own")] = None,
    top: Annotated[int, typer.Option(help="Classes to report per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass of the backbone.")] = 32,
    format: Annotated[Optional[OutputFormat], typer.Option(
        help="csv (top classes), json, wide (id, then one probability column per class: a Kaggle submission), "
             "or table (stdout only).", show_default="from the --out suffix")] = None,
    threshold: Annotated[Optional[float], typer.Option(
        help="Label an image 'unknown' when its best probability is below this.",
        show_default="none: always the best class")] = None,
    file_column: Annotated[Optional[str], typer.Option(
        help="Column of the files in a CSV input.", show_default="detected: id, filename, file, path, image")] = None,
    tta: Annotated[int, typer.Option(help="Average over the plain image and K fixed test-time views (a flip, then zooms).")] = 0,
    keep: Annotated[bool, typer.Option(help="Keep the features computed for new images in the store (dataset "
                                            "heads-predict): the next call on them reads them.")] = True,
    force: ForceOption = False,
    runtime: Annotated[RuntimeName, typer.Option(metavar="NAME", help="What runs the base on new images: "
                                                 f"{', '.join(RUNTIME_CHOICES)} (docs: runtimes).")] = RuntimeName.tensorflow,
) -> None:
    """Classify new images: the head's inputs (stored features reused, else computed from the image), then the head."""
    from heads.predict import STDOUT, UNKNOWN, output_format, predict_images
    from heads.predict_output import wide_ids

    chosen = format.value if format else None
    progress = Progress(TextColumn("[bold]predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors, transient=True, disable=cli_support.quiet())
    task = progress.add_task("", total=None)
    notes: list[str] = []
    try:
        if out is not None and chosen == TABLE:
            raise HeadError(f"--format table prints to the terminal; a file is csv, json or wide. "
                            f"Received: --out {out}")
        as_table = out is None and (chosen == TABLE or chosen is None and sys.stdout.isatty())
        target = out if out is not None else None if as_table else STDOUT
        with progress:
            predictions = predict_images(head, inputs, store=store, out=target, top=top, batch_size=batch_size,
                                         format=None if chosen == TABLE else chosen, threshold=threshold,
                                         file_column=file_column, tta=tta, keep=keep, on_note=notes.append, force=force,
                                         runtime=runtime.value,
                                         on_progress=lambda n: progress.advance(task, n))
    except HANDLED as error:
        fail(error)
        return
    if as_table:
        table = Table(Column("path", overflow="fold"), "label", "probability", "features")  # paths never cut short
        for p in predictions:
            table.add_row(shown(p.path), shown(p.label or "-"), f"{p.probabilities[0]:.4f}" if p.probabilities else shown(p.error),
                          p.features or "-")
        console.print(table)
    report = console if target != STDOUT else errors  # stdout holds the predictions alone
    counts = {s: sum(p.features == s for p in predictions) for s in ("store", "computed")}
    failed = [p for p in predictions if p.error]
    unknown = sum(p.label == UNKNOWN for p in predictions) if threshold is not None else 0
    below = f", {unknown} unknown (below {threshold})" if unknown else ""
    report.print(f"{len(predictions)} files: {counts['store']} from stored features, {counts['computed']} computed "
                 f"from the image, {len(failed)} unusable{below}" + (f"; written to {shown(out)}" if out else ""),
                 highlight=False, soft_wrap=True)
    for p in failed[:20]:
        report.print(f"  unusable {shown(p.path)}: {shown(p.error)}", highlight=False, soft_wrap=True)
    if len(failed) > 20:
        report.print(f"  ... and {len(failed) - 20} more (each with its reason in the output)", highlight=False)
    if target is not None and output_format(target, chosen) == "wide":
        notes.append(wide_ids([p.path for p in predictions if p.scores])[1])
    print_notes([n for n in notes if n])
