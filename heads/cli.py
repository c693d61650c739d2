"""`heads`: the command-line face of the heads API (same parameter names)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import json  # noqa: E402
from enum import Enum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402
from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from heads.errors import first_line  # noqa: E402
from heads.kinds.registry import KINDS, ClassWeight, KindName, ReduceMode, parse_param  # noqa: E402

app = typer.Typer(help="Stage two: train, evaluate, compare and use classifier heads on cached features.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
errors = Console(stderr=True)

OutputFormat = Enum("OutputFormat", {name: name for name in ("csv", "json")}, type=str)
Optimizer = Enum("Optimizer", {name: name for name in ("rmsprop", "adam", "adamw", "sgd", "nadam")}, type=str)
HANDLED = (ValueError, KeyError, OSError)  # HeadError, StoreError, sklearn's InvalidParameterError...


def _fail(error: BaseException) -> None:
    errors.print(f"[bold red]error:[/] {escape(first_line(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


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


def _epoch_progress(total: int) -> Progress:
    return Progress(TextColumn("[bold]epoch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=console, transient=True)


@app.command()
def fit(
    store: Annotated[Path, typer.Option(help="Feature store folder (from `extract run`).")],
    kind: Annotated[KindName, typer.Option(help="Kind of head (see `heads kinds`).")],
    config: Annotated[Optional[str], typer.Option(help="Configuration id, id prefix or backbone [default: the only one].")] = None,
    param: Annotated[Optional[list[str]], typer.Option(help="Kind parameter NAME=VALUE (repeatable), e.g. C=0.1.")] = None,
    reduce: Annotated[ReduceMode, typer.Option(help="Spatial features to vectors: flatten, or global avg/max pooling.")] = ReduceMode.flatten,
    class_weight: Annotated[ClassWeight, typer.Option(help="Weight classes inversely to their frequency.")] = ClassWeight.none,
    seed: Annotated[int, typer.Option(help="Random seed (initialisation, shuffling, CV folds).")] = 0,
    search: Annotated[bool, typer.Option(help="Cross-validated search of the kind's main parameters, on the train split only.")] = False,
    cv: Annotated[int, typer.Option(help="Folds for --search.")] = 5,
    hidden: Annotated[Optional[str], typer.Option(help="dense: hidden layer sizes, e.g. 256 or 512,128 [256].")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="dense: dropout after each hidden layer [0.5].")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="dense: optimizer [rmsprop].")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="dense: learning rate [0.001].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="dense: most epochs [50].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="dense: batch size [128].")] = None,
    patience: Annotated[Optional[int], typer.Option(help="dense: early-stopping patience on held-out train rows, 0 = off [5].")] = None,
    xla: Annotated[Optional[bool], typer.Option(help="dense: XLA-compile the train step [off: slower on CPU, measured].")] = None,
    stream: Annotated[Optional[bool], typer.Option(help="Stream features from the store [default: when they exceed --memory-limit].")] = None,
    memory_limit: Annotated[Optional[float], typer.Option(help="MB of features to hold in memory [half of available].")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Head folder [default: STORE/heads/<head-id>].")] = None,
) -> None:
    """Fit a head on cached features, score it on every split, save it with its record and pictures."""
    from heads.train import fit_head

    try:
        params = dict(parse_param(p) for p in (param or []))
    except ValueError as error:
        _fail(error)
        return
    progress, task = None, None

    def on_epoch(epoch: int, logs: dict) -> None:
        nonlocal progress, task
        if progress is None:
            total = int(epochs or params.get("epochs", 50)) if kind.value == "dense" else int(params.get("max_iter", 30))
            progress = _epoch_progress(total)
            progress.start()
            task = progress.add_task("", total=total)
        described = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss"))
        progress.update(task, completed=epoch, description=described)

    try:
        result = fit_head(store=store, kind=kind.value, config=config, params=params, reduce=reduce.value,
                          class_weight=class_weight.value, seed=seed, search=search, cv=cv, stream=stream,
                          memory_limit_mb=memory_limit, out=out, hidden=_hidden(hidden), dropout=dropout,
                          optimizer=optimizer.value if optimizer else None, learning_rate=learning_rate,
                          epochs=epochs, batch_size=batch_size, patience=patience, xla=xla, on_epoch=on_epoch,
                          on_stage=lambda message: console.print(f"[dim]{message}[/]", highlight=False))
    except HANDLED as error:
        if progress is not None:
            progress.stop()
        _fail(error)
        return
    if progress is not None:
        progress.stop()
    _print_fit(result)


def _print_fit(result) -> None:
    record = result.record
    table = Table(title=f"heads fit: {record['head_id']}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    rows = [("folder", str(result.folder)), ("kind", record["kind"]), ("configuration", record["config_id"]),
            ("parameters", json.dumps(record["user_params"]) if record["user_params"] else "defaults"),
            ("reduce / class weight / seed", f"{record['reduce']} / {record['class_weight']} / {record['seed']}"),
            ("fit", f"{record['fit_seconds']:.2f} s{' (streamed)' if record['streamed'] else ''}")]
    if record.get("dense"):
        rows.append(("epochs", f"{record['dense']['epochs_run']} run, weights of epoch {record['dense']['best_epoch']} kept"))
    if record["search"]:
        search = record["search"]
        rows.append(("search", f"best {json.dumps(search['best_params'])}: {search['cv']}-fold CV accuracy "
                               f"{search['best_cv_accuracy']:.4f} (train split only)"))
    for split, summary in record["metrics"].items():
        rows.append((f"{split} ({summary['n']})", f"accuracy {_number(summary['accuracy'])}   "
                                                  f"log loss {_number(summary['log_loss'])}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@app.command("list")
def list_heads(
    store: Annotated[Path, typer.Option(help="Feature store folder.")],
    config: Annotated[Optional[str], typer.Option(help="Only heads of this configuration (id, prefix or backbone).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every head trained on this store, best first (validation accuracy, then log loss)."""
    from heads.evaluate import list_store_heads

    try:
        rows = list_store_heads(store, config)
    except HANDLED as error:
        _fail(error)
        return
    if as_json:
        print(json.dumps([{k: r[k] for k in ("head_id", "folder", "kind", "config_id", "reduce", "user_params",
                                             "metrics", "fit_seconds", "sizes", "created")} for r in rows], indent=2))
        return
    if not rows:
        console.print(f"{store}: no heads yet (`heads fit --store {store} --kind logreg`).")
        return
    configs = sorted({row["config_id"] for row in rows})
    title = f"heads of {store}" + (f" ({configs[0]})" if len(configs) == 1 else "") + ", best first"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["head", "parameters"] + (["config"] if len(configs) > 1 else []) + \
        ["val acc", "val loss", "train acc", "fit s"]
    for column in columns:
        numeric = column in ("val acc", "val loss", "train acc", "fit s")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold",
                         no_wrap=numeric or column == "head", min_width=12 if column == "parameters" else None)
    for row in rows:
        val, train = row["metrics"].get("validation", {}), row["metrics"].get(row.get("train_split", "train"), {})
        params = [f"{k}={v}" for k, v in row["user_params"].items()]
        params += [f"{k}={row[k]}" for k in ("reduce", "class_weight") if row[k] not in ("flatten", "none")]
        params += ["searched"] * bool(row.get("search")) + ["streamed"] * bool(row.get("streamed"))
        cells = [row["head_id"], ", ".join(params) or "defaults"]
        cells += [row["config_id"]] if len(configs) > 1 else []
        cells += [_number(val.get("accuracy")), _number(val.get("log_loss")), _number(train.get("accuracy")),
                  f"{row['fit_seconds']:.1f}"]
        table.add_row(*cells)
    console.print(table)


@app.command("eval")
def evaluate(
    head: Annotated[str, typer.Option(help="Head folder, or head id with --store.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "validation",
    store: Annotated[Optional[Path], typer.Option(help="Feature store [default: the head's own].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """A head's metrics again, on any split of its configuration."""
    from heads.evaluate import eval_head

    try:
        result = eval_head(head, split=split, store=store)
    except HANDLED as error:
        _fail(error)
        return
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(f"[bold]{result['head_id']}[/] on {split} ({result['n']} images): accuracy "
                  f"{_number(result['accuracy'])}, balanced {_number(result['balanced_accuracy'])}, "
                  f"macro F1 {_number(result['macro_f1'])}, log loss {_number(result['log_loss'])}", highlight=False)
    table = Table("class", "precision", "recall", "F1", "support")
    for name, row in result["per_class"].items():
        table.add_row(name, _number(row["precision"]), _number(row["recall"]), _number(row["f1"]), str(row["support"]))
    console.print(table)
    matrix = Table("true \\ predicted", *result["confusion_labels"], title="confusion matrix")
    for name, counts in zip(result["confusion_labels"], result["confusion_matrix"]):
        matrix.add_row(name, *(str(c) for c in counts))
    console.print(matrix)


@app.command()
def predict(
    head: Annotated[str, typer.Option(help="Head folder, or head id with --store.")],
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (walked recursively).")],
    out: Annotated[Optional[Path], typer.Option(help="CSV or JSON file to write [default: print a table].")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store to reuse features from [default: the head's].")] = None,
    top: Annotated[int, typer.Option(help="Classes to report per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass of the backbone.")] = 32,
    format: Annotated[Optional[OutputFormat], typer.Option(help="Output format [default: from the --out suffix].")] = None,
) -> None:
    """Classify new images: backbone of the head's configuration (stored features reused), then the head."""
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
        _fail(error)
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
                  f"through the backbone, {len(failed)} unusable" + (f"; written to {out}" if out else ""),
                  highlight=False)
    for p in failed[:20]:
        console.print(f"  unusable {p.path}: {p.error}", highlight=False, soft_wrap=True)


@app.command()
def export(
    head: Annotated[str, typer.Option(help="Head folder, or head id with --store.")],
    out: Annotated[Path, typer.Option(help="The .keras file to write.")],
    store: Annotated[Optional[Path], typer.Option(help="Feature store for the agreement check [default: the head's].")] = None,
    check: Annotated[int, typer.Option(help="Store images to compare the exported model with the head on.")] = 8,
) -> None:
    """One Keras model from raw images to probabilities: resize + preprocessing + frozen base + head."""
    from heads.export import export_head

    try:
        result = export_head(head, out, store=store, check=check)
    except HANDLED as error:
        _fail(error)
        return
    checked = (f"agrees with the head on {result.checked} store images (top class {result.agreement:.0%}, "
               f"largest probability difference {result.max_difference:.2e})" if result.checked
               else "no store images to check it against")
    console.print(f"wrote {result.path}: {checked}. Load it with keras.models.load_model; input RGB 0..255, any size.",
                  highlight=False)


@app.command()
def kinds() -> None:
    """The kinds of head, their parameters and what they can do."""
    table = Table("kind", "what", "parameters", "streams", "exports")
    for spec in KINDS.values():
        table.add_row(spec.name, spec.summary, ", ".join(spec.parameters()), "yes" if spec.incremental else "-",
                      "yes" if spec.keras or spec.linear else "-")
    console.print(table)


from heads.finetune_cli import finetune  # noqa: E402  (a long command: its own module)

app.command()(finetune)
