"""`heads finetune`: the command-line face of heads.finetune.run.finetune_head (same parameter names)."""
from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from extract import augment_options, cli_support
from extract.runtimes.choice import CHOICES as RUNTIME_CHOICES
from heads.cli.common import HANDLED, console, epoch_progress, errors, fail, number, print_notes, stage_printer
from heads.kinds.finetune import PATHS, STOP_ON

FinetunePath = Enum("FinetunePath", {name: name for name in PATHS}, type=str)
StopOn = Enum("StopOn", {name: name for name in STOP_ON}, type=str)
RuntimeName = Enum("RuntimeName", {name: name for name in RUNTIME_CHOICES}, type=str)


def finetune(
    head: Annotated[str, typer.Option(help="Dense head to start from: folder, or head id with --store.")],
    data: Annotated[Optional[Path], typer.Option(help="The images (the head's classes).", show_default="the folder the head was fitted on")] = None,
    store: Annotated[Optional[Path], typer.Option(help="Feature store of the head, where the cut activations are cached.", show_default="the head's own")] = None,
    blocks: Annotated[int, typer.Option(help="Top convolutional blocks to reopen (VGG16: 1 = block5, 2 = block4 + block5).")] = 1,
    path: Annotated[FinetunePath, typer.Option(help="cached: train on activations cached below the reopened blocks (extracted here when missing); full: the whole base on every image every epoch.")] = FinetunePath.cached,
    views: Annotated[Optional[int], typer.Option(help="cached: fixed augmented views cached per train image.", show_default="5")] = None,
    epochs: Annotated[int, typer.Option(help="Most epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 32,
    learning_rate: Annotated[float, typer.Option(help="SGD learning rate (small: the blocks are pretrained).")] = 1e-4,
    momentum: Annotated[float, typer.Option(help="SGD momentum.")] = 0.9,
    patience: Annotated[int, typer.Option(help="Stop after this many epochs without a lower loss on the stopping rows, keeping the best epoch's weights; 0 = all epochs, last weights.")] = 5,
    stop_on: Annotated[StopOn, typer.Option(help="Rows early stopping watches: holdout (train rows held out from training) or validation (then only a test split gives an honest figure).")] = StopOn.holdout,
    holdout_fraction: Annotated[float, typer.Option(help="Share of the train rows held out for early stopping.")] = 0.1,
    flip: augment_options.Flip = augment_options.DEFAULT.flip,
    rotation: augment_options.Rotation = augment_options.DEFAULT.rotation,
    zoom: augment_options.Zoom = augment_options.DEFAULT.zoom,
    shift: augment_options.Shift = augment_options.DEFAULT.shift,
    seed: Annotated[int, typer.Option(help="Seed of the views, the online augmentation, the held-out rows and the batch order.")] = 0,
    memory_limit: Annotated[Optional[float], typer.Option(help="MB of activations or images to hold in memory.", show_default="half of the available")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Head folder.", show_default="STORE/heads/HEAD-ID")] = None,
    runtime: Annotated[RuntimeName, typer.Option(metavar="NAME", help="What runs the frozen part when caching its "
                                                 f"activations: {', '.join(RUNTIME_CHOICES)} (docs: runtimes).")] = RuntimeName.tensorflow,
) -> None:
    """Fine-tune a dense head together with the top blocks of its backbone (SGD, augmentation, early stopping)."""
    from heads.finetune.run import finetune_head

    images = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=errors, transient=True, disable=cli_support.quiet())
    epoch_bar, task = None, None
    clock = {"last": time.perf_counter()}

    def on_images(label: str, total, done: int) -> None:
        clock["last"] = time.perf_counter()
        if total is not None:
            images.start()
            for old in list(images.task_ids):
                images.remove_task(old)
            images.add_task(label, total=total)
        elif images.task_ids:
            images.advance(images.task_ids[-1], done)

    def on_stage(message: str) -> None:
        clock["last"] = time.perf_counter()
        stage_printer(message)

    def on_epoch(epoch: int, logs: dict) -> None:
        nonlocal epoch_bar, task
        if epoch_bar is None:
            images.stop()
            epoch_bar = epoch_progress()
            epoch_bar.start()
            task = epoch_bar.add_task("", total=epochs)
        described = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss", "val_accuracy"))
        epoch_bar.update(task, completed=epoch, description=described)
        now = time.perf_counter()
        if not cli_support.quiet():
            errors.print(f"epoch {epoch}/{epochs}: {described}  ({now - clock['last']:.0f} s)", highlight=False)
        clock["last"] = now  # epochs take minutes: a line each, kept in the terminal or a log

    try:
        result = finetune_head(head, data, store=store, blocks=blocks, path=path.value, views=views, epochs=epochs,
                               batch_size=batch_size, learning_rate=learning_rate, momentum=momentum,
                               patience=patience, stop_on=stop_on.value, holdout_fraction=holdout_fraction,
                               flip=flip, rotation=rotation, zoom=zoom, shift=shift, seed=seed,
                               memory_limit_mb=memory_limit, out=out, on_epoch=on_epoch, on_images=on_images,
                               on_stage=on_stage, runtime=runtime.value)
    except HANDLED as error:
        fail(error)
        return
    finally:
        images.stop()
        if epoch_bar is not None:
            epoch_bar.stop()
    print_finetune(result.record, result.folder)
    print_notes(result.notes)


def print_finetune(record: dict, folder: Path) -> None:
    ft = record["finetune"]
    table = Table(title=f"heads finetune: {record['head_id']}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    views = f", {ft['views']} views per train image" if ft["path"] == "cached" else ", online augmentation"
    stopping = ft["early_stopping"]
    stopped = "every epoch run, last weights kept" if not stopping else (
        f"weights of epoch {ft['best_epoch']} kept (lowest loss on "
        f"{'held-out train rows' if stopping['on'] == 'holdout' else 'the validation split'}, {stopping['rows']} rows)")
    rows = [("from", f"{ft['from_head']} (validation accuracy {number(ft['from_metrics'].get('validation', {}).get('accuracy'))})"),
            ("reopened", f"{', '.join(ft['reopened'])}: {', '.join(ft['trainable_layers'])} (batch norm frozen)"),
            ("path", f"{ft['path']}{views}; input: activations at {ft['cut_layer']} ({record['config_id']})"),
            ("epochs", f"{ft['epochs_run']} run, {stopped}; {ft['seconds_per_epoch']:.1f} s per epoch"),
            ("time", f"{ft['total_seconds']:.0f} s: preparing {ft['prepare_seconds']:.0f} s, training "
                     f"{ft['fit_seconds']:.0f} s, scoring {ft['score_seconds']:.0f} s")]
    for split, summary in record["metrics"].items():
        chosen = " (used to stop: not an honest figure)" if stopping and (
            split == "holdout" or (split == "validation" and stopping["on"] == "validation")) else ""
        rows.append((f"{split} ({summary['n']})", f"accuracy {number(summary['accuracy'])}   "
                                                  f"log loss {number(summary['log_loss'])}{chosen}"))
    rows.append(("folder", str(folder)))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
