"""`heads fit`: the command-line face of heads.fit.fit_head (same parameter names)."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from extract import cli_support
from heads.cli.common import HANDLED, JsonFlag, console, epoch_progress, fail, number, print_notes, stage_printer
from heads.kinds.registry import FITTED_KINDS, ClassWeight, ReduceMode, parse_param
from heads.kinds.folds import judged_by
from heads.kinds.selection import AUTO, AUTO_KINDS
from store import FeatureStore
from store.printable import shown

FitKind = Enum("FitKind", {name: name for name in (*FITTED_KINDS, AUTO)}, type=str)
DENSE, MEMORY, SEARCH = "Dense heads", "Memory", "Parameter search"  # help panels
Optimizer = Enum("Optimizer", {name: name for name in ("rmsprop", "adam", "adamw", "sgd", "nadam")}, type=str)


def _hidden(text: Optional[str]) -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"layer sizes separated by commas, e.g. 256 or 512,128. Received: {text!r}")
    return sizes


def _seconds(text: Optional[str]) -> Optional[float]:
    """'120', '120s', '2m' or '1h' as seconds."""
    if text is None:
        return None
    scale = {"s": 1, "m": 60, "h": 3600}.get(text.strip()[-1:].lower(), 1)
    number_part = text.strip().rstrip("smhSMH")
    try:
        seconds = float(number_part) * scale
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"--budget is a time such as 120s, 2m or 1h (0 or more). Received: {text!r}")
    return seconds


def fit(
    store: Annotated[Path, typer.Option(help="Feature store folder (from `extract run`).")],
    kind: Annotated[FitKind, typer.Option(metavar="KIND", help=f"Kind of head: {', '.join(FITTED_KINDS)} (see `heads kinds`), or auto: {', '.join(AUTO_KINDS)} tried by cross-validation on the train split, the best kept.")],
    config: Annotated[Optional[list[str]], typer.Option(metavar="NAME", help="Configuration: its name (mobilenet_v2@224, vgg16@150/block4_pool: see `extract ls`), id or id prefix; repeat it to join several configurations' features of the same images (by content).", show_default="the only one")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset of the store to fit on.", show_default="the only one, or the newest")] = None,
    param: Annotated[Optional[list[str]], typer.Option(help="Kind parameter NAME=VALUE (repeatable), e.g. C=0.1.", show_default="the kind's own (heads kinds)")] = None,
    reduce: Annotated[Optional[list[ReduceMode]], typer.Option(help="Spatial features to vectors: flatten, global avg/max pooling, or auto (flatten up to 16384 values, avg above); once for all configurations or once per --config.", show_default="auto")] = None,
    class_weight: Annotated[ClassWeight, typer.Option(help="Weight classes inversely to their frequency.")] = ClassWeight.none,
    seed: Annotated[int, typer.Option(help="Random seed (initialisation, shuffling, CV folds).")] = 0,
    search: Annotated[bool, typer.Option("--search", rich_help_panel=SEARCH, help="Cross-validated search of the kind's main parameters, on the train split only.")] = False,
    cv: Annotated[int, typer.Option(rich_help_panel=SEARCH, help="Folds for --search and --kind auto; classes with fewer train images stay in every training fold (docs: model selection).")] = 5,
    budget: Annotated[Optional[str], typer.Option(rich_help_panel=SEARCH, metavar="SECONDS", help="Time for --search or --kind auto, e.g. 120s or 2m: no candidate starts after it (the first always runs); what was left untried is recorded.", show_default="no limit")] = None,
    unexportable: Annotated[bool, typer.Option("--unexportable", rich_help_panel=SEARCH, help="With --kind auto: also try candidates no export format takes (none of the kinds auto tries today); without it, auto chooses among exportable heads and says what it left out.")] = False,
    hidden: Annotated[Optional[str], typer.Option(rich_help_panel=DENSE, help="dense: hidden layer sizes, e.g. 256 or 512,128.", show_default="256")] = None,
    dropout: Annotated[Optional[float], typer.Option(rich_help_panel=DENSE, help="dense: dropout after each hidden layer.", show_default="0.5")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(rich_help_panel=DENSE, help="dense: optimizer.", show_default="rmsprop")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(rich_help_panel=DENSE, help="dense: learning rate.", show_default="0.001")] = None,
    epochs: Annotated[Optional[int], typer.Option(rich_help_panel=DENSE, help="dense: most epochs.", show_default="50")] = None,
    batch_size: Annotated[Optional[int], typer.Option(rich_help_panel=DENSE, help="dense: batch size.", show_default="128")] = None,
    patience: Annotated[Optional[int], typer.Option(rich_help_panel=DENSE, help="dense: early-stopping patience on held-out train rows, 0 = off.", show_default="5")] = None,
    xla: Annotated[Optional[bool], typer.Option(rich_help_panel=DENSE, help="dense: XLA-compile the train step.", show_default="off: slower on CPU, measured")] = None,
    stream: Annotated[Optional[bool], typer.Option(rich_help_panel=MEMORY, help="Stream features from the store.", show_default="when they exceed --memory-limit")] = None,
    memory_limit: Annotated[Optional[float], typer.Option(rich_help_panel=MEMORY, help="MB of features to hold in memory.", show_default="half of the available")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Head folder.", show_default="STORE/heads/ID")] = None,
    exclude: Annotated[Optional[Path], typer.Option(help="Leave out the train rows this file names: a `heads inspect` CSV/JSON (hash or path column) or lines of paths or hashes.", show_default="none")] = None,
    exclude_suspects: Annotated[bool, typer.Option("--exclude-suspects", help="Leave out the train images cleanlab flags as label errors (`heads inspect suspects`, logreg, 5 folds).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Fit a head on cached features, score it on every split, save it with its record and pictures."""
    from heads.fit import fit_head

    try:
        params = dict(parse_param(p) for p in (param or []))
    except ValueError as error:
        fail(error)
        return
    try:
        budget_s = _seconds(budget)
    except ValueError as error:
        fail(error)
        return
    progress, task = None, None

    def on_epoch(epoch: int, logs: dict) -> None:
        nonlocal progress, task
        if as_json:
            return
        if progress is None:
            total = int(epochs or params.get("epochs", 50)) if kind.value == "dense" else int(params.get("max_iter", 30))
            progress = epoch_progress()
            progress.start()
            task = progress.add_task("", total=total)
        described = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss"))
        progress.update(task, completed=epoch, description=described)

    try:
        result = fit_head(store=store, kind=kind.value, config=config, dataset=dataset, params=params,
                          reduce=[r.value for r in reduce or []] or "auto", class_weight=class_weight.value, seed=seed, search=search, cv=cv, budget=budget_s,
                          exportable_only=not unexportable, stream=stream, memory_limit_mb=memory_limit, out=out, hidden=_hidden(hidden),
                          dropout=dropout, optimizer=optimizer.value if optimizer else None,
                          learning_rate=learning_rate, epochs=epochs, batch_size=batch_size, patience=patience,
                          xla=xla, exclude=exclude, exclude_suspects=exclude_suspects, on_epoch=on_epoch, on_stage=None if as_json else stage_printer)
    except HANDLED as error:
        if progress is not None:
            progress.stop()
        fail(error)
        return
    if progress is not None:
        progress.stop()
    if as_json:
        cli_support.print_json({"head_id": result.head_id, "folder": str(result.folder), "notes": result.notes,
                                "metrics": result.metrics, "record": result.record})
        return
    print_fit(result)


def print_fit(result) -> None:
    record = result.record
    table = Table(title=f"heads fit: {record['head_id']}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    names = FeatureStore(record["store"]).names()
    configs = [f"{names.name(c['config_id'])} ({c['config_id']})" for c in record["inputs"]]
    rows = [("folder", str(result.folder)), ("kind", record["kind"]),
            ("configuration" if len(configs) == 1 else "configurations (joined)", " + ".join(configs)),
            ("dataset", f"{shown(record['data']['dataset'])} ({', '.join(map(shown, record['data']['class_names']))})"),
            ("parameters", json.dumps(record["user_params"]) if record["user_params"] else "defaults"),
            ("reduce / class weight / seed", f"{record['reduce']} / {record['class_weight']} / {record['seed']}"),
            ("fit", f"{record['fit_seconds']:.2f} s{' (streamed)' if record['streamed'] else ''}")]
    if record.get("dense"):
        rows.append(("epochs", f"{record['dense']['epochs_run']} run, weights of epoch {record['dense']['best_epoch']} kept"))
    if record.get("reduce_rule"):
        rows.append(("reduce rule", record["reduce_rule"]))
    if record.get("excluded"):
        rows.append(("left out of train", f"{record['excluded']['count']} rows: {'; '.join(record['excluded']['sources'])}"))
    if record["search"] and record["search"].get("by_kind"):
        scores = ", ".join(f"{k} {v['best_cv_accuracy']:.4f}" + (f" (on {v['rows_fraction']:.0%} of the rows)"
                                                                  if v.get("rows_fraction", 1.0) < 1 else "")
                           for k, v in record["search"]["by_kind"].items())
        rows.append(("kind auto", f"{record['kind']} chosen by {judged_by(record['search'])} accuracy on the train "
                                  f"split: {scores}"))
    if record["search"] and record["search"].get("cv_scheme"):
        search = record["search"]
        hit = "" if search["budget_s"] is None else f"; budget {search['budget_s']:g}s {'spent' if search['budget_hit'] else 'not reached'}"
        rows.append(("judged by", f"{search['cv_scheme']}{hit}"))
    if record["search"]:
        search = record["search"]
        rows.append(("search", f"best {json.dumps(search['best_params'])}: {judged_by(search)} accuracy "
                               f"{search['best_cv_accuracy']:.4f} (train split only)"))
    for split, summary in record["metrics"].items():
        rows.append((f"{split} ({summary['n']})", f"accuracy {number(summary['accuracy'])}   "
                                                  f"log loss {number(summary['log_loss'])}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    print_notes(result.notes)
