"""`heads list | eval | kinds`: looking at the heads of a store (thin over heads.evaluate and the registry)."""
from __future__ import annotations

import io
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from heads.cli.common import HANDLED, HeadOption, console, fail, number, print_notes, stage_printer
from heads.kinds.registry import KINDS

KindArgument = Enum("KindArgument", {name: name for name in KINDS}, type=str)
from heads.record import chosen_on_validation
from store.printable import shown

LIST_FIELDS = ("head_id", "folder", "kind", "config_id", "config_names", "reduce", "user_params", "metrics",
               "fit_seconds", "sizes", "created", "data_changed")
PARAMETERS_WIDTH = 30  # the parameters column folds beyond this in the wide layout


def list_heads(
    store: Annotated[Path, typer.Option(help="Feature store folder.")],
    config: Annotated[Optional[str], typer.Option(help="Only heads reading this configuration (name, id or id prefix: see extract ls).", show_default="every configuration")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Only heads fitted on this dataset of the store.", show_default="every dataset")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every head trained on this store, best first (validation accuracy, then log loss)."""
    from heads.evaluate import list_store_heads

    from heads.artifact import damaged_heads

    try:
        rows = list_store_heads(store, config, dataset=dataset)
        damaged = damaged_heads(store)
    except HANDLED as error:
        fail(error)
        return
    for folder, problem in damaged:  # one line each, on stderr: the good heads are still listed
        print_notes([f"skipped head folder {folder.name}: {problem}"])
    if as_json:
        print(json.dumps([{**{k: r[k] for k in LIST_FIELDS}, "dataset": r["data"]["dataset"]} for r in rows],
                         indent=2))
        return
    if not rows:
        on = f" fitted on dataset {dataset}" if dataset is not None else ""
        console.print(f"{store}: no heads{on} yet (`heads fit --store {store} --kind logreg`).")
        return
    console.print(_heads_table(rows, store, dataset))
    if any(chosen_on_validation(row) for row in rows):
        console.print("* chosen on the validation split (early stopping, or a member's): its test figure is the "
                      "honest one.")


def _parameters(row: dict) -> str:
    params = [f"{k}={v}" for k, v in row["user_params"].items()]
    params += [f"{k}={row[k]}" for k in ("reduce", "class_weight") if row[k] not in ("flatten", "none")]
    params += ["searched"] * bool(row.get("search")) + ["streamed"] * bool(row.get("streamed"))
    params += ["data changed since: see heads eval"] * bool(row["data_changed"])
    return ", ".join(params) or "defaults"


def _heads_table(rows: list[dict], store: Path, dataset: Optional[str]) -> Table:
    """One row per head. Where the terminal (or a pipe's 80 columns) is too narrow for a column each, a head's
    parameters, dataset and configurations go on lines of their own under its id: never one character a line."""
    configs = sorted({" + ".join(row["config_names"]) for row in rows})
    datasets = sorted({row["data"]["dataset"] for row in rows})  # shown only when heads of several are listed
    tested = any("test" in row["metrics"] for row in rows)
    title = (f"heads of {store}" + (f" ({configs[0]})" if len(configs) == 1 else "")
             + (f", dataset {dataset}" if dataset is not None else "") + ", best first")
    numeric = ["val acc", "val loss"] + (["test acc"] if tested else []) + ["train acc", "fit s"]
    texts = []  # per row: the head id, then (label, text) of what describes it
    for row in rows:
        about = [("parameters", _parameters(row))]
        about += [("dataset", shown(row["data"]["dataset"]))] if len(datasets) > 1 else []
        about += [("config", "\n".join(row["config_names"]))] if len(configs) > 1 else []
        metrics = row["metrics"]
        val, train = metrics.get("validation", {}), metrics.get(row.get("train_split", "train"), {})
        figures = [number(val.get("accuracy")) + ("*" if chosen_on_validation(row) else ""),
                   number(val.get("log_loss"))]
        figures += [number(metrics.get("test", {}).get("accuracy"))] if tested else []
        figures += [number(train.get("accuracy")), f"{row['fit_seconds']:.1f}"]
        texts.append((row["head_id"], about, figures))
    widths = [max(len(label), *(len(line) for _, about, _ in texts for key, text in about if key == label
                                for line in text.splitlines())) for label, _ in texts[0][1]]
    widths = [min(w, PARAMETERS_WIDTH) if label == "parameters" else w for w, (label, _) in zip(widths, texts[0][1])]
    head_width = max(len("head"), *(len(head) for head, _, _ in texts))
    wide = head_width + sum(widths) + sum(max(len(c), 7) for c in numeric) + 2 * (len(widths) + len(numeric)) \
        <= console.width
    table = _laid_out(title, texts, widths, numeric, head_width, wide)
    if wide and not _shows_whole(table, numeric + [head for head, _, _ in texts]):
        table = _laid_out(title, texts, widths, numeric, head_width, False)  # the estimate was a few columns short
    return table


def _shows_whole(table: Table, texts: list[str]) -> bool:
    """Whether the table, printed at the console's width, shows each of `texts` whole: rich crops a no-wrap
    column it has no room for (`fit s` became `f`) rather than refuse, so the layout is checked by printing it."""
    probe = Console(width=console.width, file=io.StringIO(), color_system=None)
    with probe.capture() as captured:
        probe.print(table)
    shown = captured.get()
    return all(text in shown for text in texts)


def _laid_out(title: str, texts: list, widths: list[int], numeric: list[str], head_width: int, wide: bool) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("head", no_wrap=wide, overflow="fold", min_width=None if wide else head_width)
    if wide:
        for (label, _), width in zip(texts[0][1], widths):
            table.add_column(label, overflow="fold", min_width=width if label != "parameters" else 12)
    for column in numeric:
        table.add_column(column, justify="right", no_wrap=True)
    for head, about, figures in texts:
        if wide:
            table.add_row(head, *(text for _, text in about), *figures)
        else:  # what describes the head, indented under its id, folded at the table's width
            lines = [head] + [f"  {text}" if label == "parameters" else f"  {label}: {text}".replace("\n", "\n    + ")
                              for label, text in about]
            table.add_row(Text("\n".join(lines), overflow="fold"), *figures)
    return table


def evaluate(
    head: HeadOption,
    split: Annotated[str, typer.Option(help="Split to score (train, validation, test...).")] = "validation",
    store: Annotated[Optional[Path], typer.Option(help="Feature store.", show_default="the head's own")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset of the store to score on.", show_default="the head's own")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    tta: Annotated[int, typer.Option(help="Average over the plain image and K fixed test-time views (a flip, then zooms), extracted into the store the first time.")] = 0,
    cv: Annotated[Optional[int], typer.Option(help="With --tta on the train split: accuracy by k-fold CV without and with the views (the head refitted per fold), to decide on them honestly.", show_default="no cross-validation")] = None,
) -> None:
    """A head's metrics again, on any split of its data (classes by name, rows in the head's own split record)."""
    from heads.evaluate import eval_head

    try:
        result = eval_head(head, split=split, store=store, dataset=dataset, tta=tta, cv=cv,
                           on_stage=None if as_json else stage_printer)
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(f"[bold]{result['head_id']}[/] on {split} of {escape(result['dataset'])} ({result['n']} images): "
                  f"accuracy {number(result['accuracy'])}, balanced {number(result['balanced_accuracy'])}, "
                  f"macro F1 {number(result['macro_f1'])}, log loss {number(result['log_loss'])}"
                  + (f", averaged over the image and {len(result['tta'])} test-time views ({', '.join(result['tta'])})"
                     if result.get("tta") else ""), highlight=False)
    if result.get("tta_cv") and result["tta_cv"]["held_out"]:  # none held out: the notes say why
        scores = result["tta_cv"]
        console.print(f"{scores['cv']}-fold cross-validation on the {split} split (head refitted per fold): accuracy "
                      f"{scores['plain_cv_accuracy']:.4f} plain, {scores['tta_cv_accuracy']:.4f} with "
                      f"{scores['views']} test-time views", highlight=False)
    table = Table("class", "precision", "recall", "F1", "support")
    for name, row in result["per_class"].items():
        table.add_row(shown(name), number(row["precision"]), number(row["recall"]), number(row["f1"]), str(row["support"]))
    console.print(table)
    matrix = Table("true \\ predicted", *map(shown, result["confusion_labels"]), title="confusion matrix")
    for name, counts in zip(result["confusion_labels"], result["confusion_matrix"]):
        matrix.add_row(shown(name), *(str(c) for c in counts))
    console.print(matrix)
    print_notes(result["notes"])


def kinds(
    name: Annotated[Optional[KindArgument], typer.Argument(
        metavar="NAME", help=f"A kind ({', '.join(KINDS)}) to show with each parameter's default.",
        show_default="every kind, in short")] = None,
) -> None:
    """The kinds of head, their parameters and what they can do; with NAME, each parameter's default."""
    if name is not None:
        _kind_parameters(KINDS[name.value])
        return
    table = Table("kind", "what", "parameters", "streams", "exports")
    for spec in KINDS.values():
        table.add_row(spec.name, spec.summary, ", ".join(spec.parameters()), "yes" if spec.incremental else "-",
                      "yes" if spec.exportable else "-")
    console.print(table)


def _kind_parameters(spec) -> None:
    """One kind: what it is, then each parameter with its default here, the library's where it differs,
    and what --search tries."""
    console.print(f"[bold]{spec.name}[/]: {escape(spec.summary)}", highlight=False, soft_wrap=True)
    library, searched = spec.library_defaults(), spec.searched()
    table = Table("parameter", "default", *(["library's default"] if library else []), "--search tries",
                  box=box.SIMPLE_HEAD)
    for parameter, default in spec.defaults().items():
        cells = [parameter, repr(default)]
        cells += [repr(library[parameter]) if parameter in library else ""] if library else []
        cells += [", ".join(map(repr, searched[parameter])) if parameter in searched else "-"]
        table.add_row(*cells)
    console.print(table)
    made = spec.starts_from and f"Made by `heads {spec.name}` from a {spec.starts_from} head"
    console.print(made or "Set one with `heads fit --kind " + spec.name + " --param NAME=VALUE`.", highlight=False)
