"""`heads inspect duplicates | suspects | neighbours | outliers | map | report`: what the cache knows about the data.

Thin over heads.inspection (each analysis a DataFrame) and heads.report.inspect_data (the page).
Every command prints a summary and the first rows; --out writes the whole table (.csv, or .json
with the record and notes), --json prints that JSON instead.
"""
from __future__ import annotations

from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from extract import cli_support
from heads.cli.common import HANDLED, ForceOption, JsonFlag, console, fail, output, print_notes
from heads.kinds.registry import FITTED_KINDS, ReduceMode, parse_param
from store.printable import shown

app = typer.Typer(help="What the cache knows about the data: duplicates and leaks, label suspects, neighbours, "
                       "outliers, a map. From the stored features, never re-extracting.", no_args_is_help=True,
                  cls=cli_support.FlagsGroup)
command = partial(app.command, cls=cli_support.FlagsCommand)  # flags shown as flags

StoreOption = Annotated[Path, typer.Option(help="Feature store folder.")]
ConfigOption = Annotated[Optional[str], typer.Option(help="Configuration id, id prefix or backbone.",
                                                     show_default="the only one")]
DatasetOption = Annotated[Optional[str], typer.Option(help="Dataset of the store.",
                                                      show_default="the only one, or the newest")]
ReduceOption = Annotated[ReduceMode, typer.Option(help="Spatial features to vectors, as `heads fit --reduce`: "
                                                       "auto flattens up to 16384 values and averages above.")]
OutOption = Annotated[Optional[Path], typer.Option(help="Write the whole table: .csv, or .json (with the record "
                                                        "and notes).", show_default="none")]
TopOption = Annotated[int, typer.Option(help="Rows printed (per split for suspects).")]
SeedOption = Annotated[int, typer.Option(help="Random seed (folds, head, sample, map).")]
HeadKind = Enum("HeadKind", {name: name for name in FITTED_KINDS}, type=str)


def _show(result, as_json: bool, out: Optional[Path], force: bool, summary: str, columns: list[str], top: int,
          per_split: bool = False) -> None:
    """The one output path of every command: JSON, or the summary, a table of the first rows and the notes."""
    try:
        written = result.write(out, force=force) if out is not None else None
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        cli_support.print_json(result.to_json())
        return
    output(summary)
    table = result.table
    first_rows = table.groupby("split", sort=False).head(top) if per_split and "split" in table else table.head(top)
    if len(first_rows):
        grid = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in columns:
            grid.add_column(column, overflow="fold", no_wrap=column not in ("path", "query", "nearest"))
        for _, row in first_rows.iterrows():
            grid.add_row(*(shown(_cell(row[c])) for c in columns))
        console.print(grid)
    if written is not None:
        output(f"wrote {written} ({len(table)} rows)")
    print_notes(result.notes)


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return "" if value is None else str(value)


@command()
def duplicates(store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
               threshold: Annotated[float, typer.Option(help="Cosine similarity at or above which two images are "
                                                              "near duplicates (0.95: measured on Dogs vs Cats).")] = 0.95,
               reduce: ReduceOption = ReduceMode.auto, out: OutOption = None, force: ForceOption = False, top: TopOption = 40,
               as_json: JsonFlag = False) -> None:
    """Exact duplicates (same content) and near duplicates (resized, re-encoded, cropped), and leaks between splits."""
    from heads.inspection import find_duplicates

    try:
        result = find_duplicates(store, config, dataset, threshold=threshold, reduce=reduce.value)
    except HANDLED as error:
        fail(error)
        return
    r = result.record
    _show(result, as_json, out, force, f"{r['config_id']} on {r['dataset']}: {r['groups']} duplicate groups "
                                f"({r['exact_groups']} exact, {r['near_groups']} near at cosine >= {r['threshold']:g}), "
                                f"{r['groups_across_splits']} across splits, {r['leaks']} held-out files leaked "
                                f"from train; {r['method']}",
          ["group", "kind", "similarity", "split", "class", "leak", "path"], top)


@command()
def suspects(store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
             kind: Annotated[HeadKind, typer.Option(help="Kind of head that scores the images by cross-validation.")] = HeadKind.logreg,
             param: Annotated[Optional[list[str]], typer.Option(help="Kind parameter NAME=VALUE (repeatable).",
                                                                show_default="the kind's own")] = None,
             cv: Annotated[int, typer.Option(help="Folds of the cross-validation on the train split.")] = 5,
             reduce: ReduceOption = ReduceMode.auto, seed: SeedOption = 0, out: OutOption = None, force: ForceOption = False,
             top: TopOption = 20, as_json: JsonFlag = False) -> None:
    """Images whose given label is least likely (cross-validated head + cleanlab's find_label_issues), per split."""
    from heads.inspection import find_suspects

    try:
        params = dict(parse_param(p) for p in (param or []))
        result = find_suspects(store, config, dataset, kind=kind.value, params=params, cv=cv, reduce=reduce.value,
                               seed=seed)
    except HANDLED as error:
        fail(error)
        return
    r = result.record
    flagged = ", ".join(f"{split} {n}" for split, n in r["issues"].items()) or "none"
    _show(result, as_json, out, force, f"{r['config_id']} on {r['dataset']}: label issues flagged by cleanlab: {flagged} "
                                f"({r['kind']}, {r['cv']}-fold out-of-fold probabilities); least likely labels first",
          ["split", "rank", "p_given", "given", "suggested", "issue", "path"], top, per_split=True)


@command()
def neighbours(image: Annotated[list[str], typer.Argument(help="Stored path (as indexed), content hash, or image file.")],
               store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
               k: Annotated[int, typer.Option("-k", "--k", help="Neighbours per image.")] = 8,
               reduce: ReduceOption = ReduceMode.auto, out: OutOption = None, force: ForceOption = False, as_json: JsonFlag = False) -> None:
    """The k stored images most like each IMAGE, with their labels and splits (exact cosine search)."""
    from heads.inspection import find_neighbours

    try:
        result = find_neighbours(store, image, config, dataset, k=k, reduce=reduce.value)
    except HANDLED as error:
        fail(error)
        return
    r = result.record
    _show(result, as_json, out, force, f"{r['config_id']} on {r['dataset']}: {r['k']} nearest of {r['contents']} stored "
                                f"images ({r['method']})",
          ["query", "rank", "similarity", "split", "class", "path"], len(result.table))


@command()
def outliers(store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
             k: Annotated[int, typer.Option("-k", "--k", help="The neighbour whose distance scores an image (1-10).")] = 5,
             reduce: ReduceOption = ReduceMode.auto, out: OutOption = None, force: ForceOption = False, top: TopOption = 20,
             as_json: JsonFlag = False) -> None:
    """Images far from every other image: distance to the k-th nearest, the far-out ones flagged."""
    from heads.inspection import find_outliers

    try:
        result = find_outliers(store, config, dataset, k=k, reduce=reduce.value)
    except HANDLED as error:
        fail(error)
        return
    r = result.record
    _show(result, as_json, out, force, f"{r['config_id']} on {r['dataset']}: {r['outliers']} outliers (score above "
                                f"{r['fence']:.3f}: {r['fence_rule']}); most distant first",
          ["rank", "score", "outlier", "split", "class", "nearest", "path"], top)


@command("map")
def map_(store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
         reduce: ReduceOption = ReduceMode.auto, seed: SeedOption = 0,
         max_points: Annotated[int, typer.Option(help="Images mapped at most (a stratified sample above).")] = 5000,
         out: OutOption = None, force: ForceOption = False, as_json: JsonFlag = False) -> None:
    """A 2-D t-SNE map of the features (x, y per image), mistakes and label suspects marked; see `heads inspect report`."""
    from heads.inspection import embedding_map

    try:
        result = embedding_map(store, config, dataset, reduce=reduce.value, seed=seed, max_points=max_points)
    except HANDLED as error:
        fail(error)
        return
    r = result.record
    _show(result, as_json, out, force, f"{r['config_id']} on {r['dataset']}: {r['mapped']} images mapped ({r['method']}); "
                                f"{r['suspects']} suspects, {r['mistakes']} mistakes marked",
          ["x", "y", "split", "class", "suspect", "path"], 0)


@command()
def report(store: StoreOption, config: ConfigOption = None, dataset: DatasetOption = None,
           out: Annotated[Optional[Path], typer.Option(help="Folder to write inspect-<config>.html in.",
                                                       show_default="the store")] = None,
           force: ForceOption = False,
           gallery: Annotated[int, typer.Option(help="Suspects shown per split, and outliers shown.")] = 20,
           reduce: ReduceOption = ReduceMode.auto, seed: SeedOption = 0) -> None:
    """One self-contained HTML page: duplicates and leaks, label suspects and outliers with thumbnails, the map."""
    from heads.report import inspect_data

    try:
        path = inspect_data(store, config, dataset, out=out, gallery=gallery, reduce=reduce.value, seed=seed,
                            force=force)
    except HANDLED as error:
        fail(error)
        return
    output(f"wrote {path} (one file: pictures embedded)")
