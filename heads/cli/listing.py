"""`heads list | eval | kinds`: looking at the heads of a store (thin over heads.evaluate and the registry)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from heads.cli.common import HANDLED, HeadOption, console, fail, number, print_notes, stage_printer
from heads.kinds.registry import KINDS
from heads.record import chosen_on_validation

LIST_FIELDS = ("head_id", "folder", "kind", "config_id", "reduce", "user_params", "metrics", "fit_seconds", "sizes",
               "created", "data_changed")


def list_heads(
    store: Annotated[Path, typer.Option(help="Feature store folder.")],
    config: Annotated[Optional[str], typer.Option(help="Only heads reading this configuration (id, prefix or backbone).", show_default="every configuration")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Only heads fitted on this dataset of the store.", show_default="every dataset")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every head trained on this store, best first (validation accuracy, then log loss)."""
    from heads.evaluate import list_store_heads

    try:
        rows = list_store_heads(store, config, dataset=dataset)
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        print(json.dumps([{**{k: r[k] for k in LIST_FIELDS}, "dataset": r["data"]["dataset"]} for r in rows],
                         indent=2))
        return
    if not rows:
        on = f" fitted on dataset {dataset}" if dataset is not None else ""
        console.print(f"{store}: no heads{on} yet (`heads fit --store {store} --kind logreg`).")
        return
    configs = sorted({row["config_id"] for row in rows})
    datasets = sorted({row["data"]["dataset"] for row in rows})  # a column only when heads of several are listed
    tested = any("test" in row["metrics"] for row in rows)
    title = (f"heads of {store}" + (f" ({configs[0]})" if len(configs) == 1 else "")
             + (f", dataset {dataset}" if dataset is not None else "") + ", best first")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    numeric = ["val acc", "val loss"] + (["test acc"] if tested else []) + ["train acc", "fit s"]
    columns = (["head", "parameters"] + (["dataset"] if len(datasets) > 1 else [])
               + (["config"] if len(configs) > 1 else []) + numeric)
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left", overflow="fold",
                         no_wrap=column in numeric or column == "head",
                         min_width=12 if column == "parameters" else None)
    for row in rows:
        metrics = row["metrics"]
        val, train = metrics.get("validation", {}), metrics.get(row.get("train_split", "train"), {})
        params = [f"{k}={v}" for k, v in row["user_params"].items()]
        params += [f"{k}={row[k]}" for k in ("reduce", "class_weight") if row[k] not in ("flatten", "none")]
        params += ["searched"] * bool(row.get("search")) + ["streamed"] * bool(row.get("streamed"))
        params += ["data changed since: see heads eval"] * bool(row["data_changed"])
        marker = "*" if chosen_on_validation(row) else ""
        cells = [row["head_id"], ", ".join(params) or "defaults"]
        cells += [row["data"]["dataset"]] if len(datasets) > 1 else []
        cells += [row["config_id"]] if len(configs) > 1 else []
        cells += [number(val.get("accuracy")) + marker, number(val.get("log_loss"))]
        cells += [number(metrics.get("test", {}).get("accuracy"))] if tested else []
        cells += [number(train.get("accuracy")), f"{row['fit_seconds']:.1f}"]
        table.add_row(*cells)
    console.print(table)
    if any("*" in str(cell) for cell in table.columns[len(columns) - len(numeric)].cells):
        console.print("* chosen on the validation split (early stopping, or a member's): its test figure is the "
                      "honest one.")


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
    if result.get("tta_cv"):
        scores = result["tta_cv"]
        console.print(f"{scores['cv']}-fold cross-validation on the {split} split (head refitted per fold): accuracy "
                      f"{scores['plain_cv_accuracy']:.4f} plain, {scores['tta_cv_accuracy']:.4f} with "
                      f"{scores['views']} test-time views", highlight=False)
    table = Table("class", "precision", "recall", "F1", "support")
    for name, row in result["per_class"].items():
        table.add_row(name, number(row["precision"]), number(row["recall"]), number(row["f1"]), str(row["support"]))
    console.print(table)
    matrix = Table("true \\ predicted", *result["confusion_labels"], title="confusion matrix")
    for name, counts in zip(result["confusion_labels"], result["confusion_matrix"]):
        matrix.add_row(name, *(str(c) for c in counts))
    console.print(matrix)
    print_notes(result["notes"])


def kinds() -> None:
    """The kinds of head, their parameters and what they can do."""
    table = Table("kind", "what", "parameters", "streams", "exports")
    for spec in KINDS.values():
        table.add_row(spec.name, spec.summary, ", ".join(spec.parameters()), "yes" if spec.incremental else "-",
                      "yes" if spec.exportable else "-")
    console.print(table)
