"""`heads report` and `heads compare`: heads as HTML pages to look at (thin over heads.report)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from heads.cli.common import HANDLED, ForceOption, HeadOption, fail, output


def report(
    head: HeadOption,
    out: Annotated[Optional[Path], typer.Option(help="Folder to write report-<head id>.html in.",
                                                show_default="the head's folder")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store of the stored features the gallery is "
                                                       "predicted from.", show_default="the head's own")] = None,
    gallery: Annotated[int, typer.Option(help="Most confidently wrong images shown per split.")] = 12,
    force: ForceOption = False,
) -> None:
    """One self-contained HTML page of a head: record, data, per-class metrics, confusion, curves, worst mistakes."""
    from heads.report import report_head

    try:
        path = report_head(head, out=out, store=store, gallery=gallery, force=force)
    except HANDLED as error:
        fail(error)
        return
    output(f"wrote {path} (one file: pictures embedded)")


def compare(
    store: Annotated[Path, typer.Option(help="Feature store whose heads to compare.")],
    head: Annotated[Optional[list[str]], typer.Option(help="A head to include (repeatable): folder, id or id prefix.",
                                                      show_default="every head of the store")] = None,
    split: Annotated[str, typer.Option(help="Split of the per-class figures and pictures.")] = "validation",
    out: Annotated[Optional[Path], typer.Option(help="Folder to write compare.html in.",
                                                show_default="STORE/heads")] = None,
    force: ForceOption = False,
) -> None:
    """Several heads side by side on one HTML page: every split's numbers, per-class F1, confusion, curves."""
    from heads.report import compare_heads

    try:
        path = compare_heads(store, head or None, out=out, split=split, force=force)
    except HANDLED as error:
        fail(error)
        return
    output(f"wrote {path} (one file: pictures embedded)")
