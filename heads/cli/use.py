"""`heads list | eval | predict | export | kinds`: looking at heads and using them (thin over the API)."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from heads.cli.common import HANDLED, console, errors, fail, number
from heads.kinds.registry import KINDS

OutputFormat = Enum("OutputFormat", {name: name for name in ("csv", "json")}, type=str)
HeadOption = Annotated[str, typer.Option(help="Head folder, or head id (or unique prefix) with --store.")]
LIST_FIELDS = ("head_id", "folder", "kind", "config_id", "reduce", "user_params", "metrics", "fit_seconds", "sizes",
               "created", "data_changed")


def print_notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def list_heads(
    store: Annotated[Path, typer.Option(help="Feature store folder.")],
    config: Annotated[Optional[str], typer.Option(help="Only heads reading this configuration (id, prefix or backbone).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every head trained on this store, best first (validation accuracy, then log loss)."""
    from heads.evaluate import list_store_heads

    try:
        rows = list_store_heads(store, config)
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        print(json.dumps([{**{k: r[k] for k in LIST_FIELDS}, "dataset": r["data"]["dataset"]} for r in rows],
                         indent=2))
        return
    if not rows:
        console.print(f"{store}: no heads yet (`heads fit --store {store} --kind logreg`).")
        return
    configs = sorted({row["config_id"] for row in rows})
    tested = any("test" in row["metrics"] for row in rows)
    title = f"heads of {store}" + (f" ({configs[0]})" if len(configs) == 1 else "") + ", best first"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    numeric = ["val acc", "val loss"] + (["test acc"] if tested else []) + ["train acc", "fit s"]
    columns = ["head", "parameters"] + (["config"] if len(configs) > 1 else []) + numeric
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
        stopped_on_validation = (row.get("finetune") or {}).get("early_stopping") or {}
        marker = "*" if stopped_on_validation.get("on") == "validation" else ""
        cells = [row["head_id"], ", ".join(params) or "defaults"]
        cells += [row["config_id"]] if len(configs) > 1 else []
        cells += [number(val.get("accuracy")) + marker, number(val.get("log_loss"))]
        cells += [number(metrics.get("test", {}).get("accuracy"))] if tested else []
        cells += [number(train.get("accuracy")), f"{row['fit_seconds']:.1f}"]
        table.add_row(*cells)
    console.print(table)
    if any("*" in str(cell) for cell in table.columns[len(columns) - len(numeric)].cells):
        console.print("* chosen on the validation split (early stopping): its test figure is the honest one.")


def evaluate(
    head: HeadOption,
    split: Annotated[str, typer.Option(help="Split to score (train, validation, test...).")] = "validation",
    store: Annotated[Optional[Path], typer.Option(help="Feature store.", show_default="the head's own")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset of the store to score on.", show_default="the head's own")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """A head's metrics again, on any split of its data (classes by name, rows in the head's own split record)."""
    from heads.evaluate import eval_head

    try:
        result = eval_head(head, split=split, store=store, dataset=dataset)
    except HANDLED as error:
        fail(error)
        return
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(f"[bold]{result['head_id']}[/] on {split} of {escape(result['dataset'])} ({result['n']} images): "
                  f"accuracy {number(result['accuracy'])}, balanced {number(result['balanced_accuracy'])}, "
                  f"macro F1 {number(result['macro_f1'])}, log loss {number(result['log_loss'])}", highlight=False)
    table = Table("class", "precision", "recall", "F1", "support")
    for name, row in result["per_class"].items():
        table.add_row(name, number(row["precision"]), number(row["recall"]), number(row["f1"]), str(row["support"]))
    console.print(table)
    matrix = Table("true \\ predicted", *result["confusion_labels"], title="confusion matrix")
    for name, counts in zip(result["confusion_labels"], result["confusion_matrix"]):
        matrix.add_row(name, *(str(c) for c in counts))
    console.print(matrix)
    print_notes(result["notes"])


def predict(
    head: HeadOption,
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (walked recursively).")],
    out: Annotated[Optional[Path], typer.Option(help="CSV or JSON file to write.", show_default="print a table")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store to reuse features from.", show_default="the head's own")] = None,
    top: Annotated[int, typer.Option(help="Classes to report per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass of the backbone.")] = 32,
    format: Annotated[Optional[OutputFormat], typer.Option(help="Output format.", show_default="from the --out suffix")] = None,
) -> None:
    """Classify new images: the head's inputs (stored features reused, else computed from the image), then the head."""
    from heads.predict import predict_images

    progress = Progress(TextColumn("[bold]predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=errors, transient=True)
    task = progress.add_task("", total=None)
    try:
        with progress:
            predictions = predict_images(head, inputs, store=store, out=out, top=top, batch_size=batch_size,
                                         format=format.value if format else None,
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


def kinds() -> None:
    """The kinds of head, their parameters and what they can do."""
    table = Table("kind", "what", "parameters", "streams", "exports")
    for spec in KINDS.values():
        table.add_row(spec.name, spec.summary, ", ".join(spec.parameters()), "yes" if spec.incremental else "-",
                      "yes" if spec.exportable else "-")
    console.print(table)
