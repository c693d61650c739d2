"""`extract`: the command-line face of extract.api (same parameter names).

Options before the command (--version, -q/--quiet, -v/--verbose) and the exit codes (2 usage, 3 refused
input, 1 failure during work) come from extract.cli_support, shared with `heads`. TensorFlow is imported
only by a command that builds a model (a run with images to extract), never by ls, verify or a cached rerun.
"""
from __future__ import annotations

import dataclasses
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from extract import augment_options, cli_store, cli_support
from extract.backbones import BACKBONES
from extract.cli_common import JsonFlag, console, errors, fail_on, human_bytes, note, say
from extract.engines import ENGINES
from extract.engines.progress import WorkerMeter
from extract.model import DTYPES, POOLING_MODES, RESIZE_MODES
from extract.options import DATA_FIELDS
from extract.runtimes.choice import CHOICES as RUNTIME_CHOICES
from extract.sources.options import LAYOUTS
from extract.stages import stage_line
from extract.weights import PREPROCESS_MODES, WEIGHTS_DIR_ENV
from store.printable import shown

app = typer.Typer(help="Stage one: cache bottleneck features of a frozen ImageNet base.", no_args_is_help=True,
                  cls=cli_support.FlagsGroup)
command = partial(app.command, cls=cli_support.FlagsCommand)  # every command's help shows flags as flags

BackboneName = Enum("BackboneName", {name: name for name in BACKBONES}, type=str)
Pooling = Enum("Pooling", {name: name for name in POOLING_MODES}, type=str)
Dtype = Enum("Dtype", {name: name for name in DTYPES}, type=str)
Resize = Enum("Resize", {name: name for name in RESIZE_MODES}, type=str)
Preprocess = Enum("Preprocess", {name: name for name in PREPROCESS_MODES}, type=str)
Layout = Enum("Layout", {name: name for name in LAYOUTS}, type=str)
EngineName = Enum("EngineName", {name: name for name in ENGINES}, type=str)
RuntimeName = Enum("RuntimeName", {name: name for name in RUNTIME_CHOICES}, type=str)
Quantize = Enum("Quantize", {"int8": "int8"}, type=str)
# The help panels of `extract run` (typer's rich_help_panel): a long list read a group at a time.
FEATURES, DATA, VIEWS, SCALE = ("What changes the features", "How the data folder is read", augment_options.PANEL,
                                "Speed and scale (never the numbers)")

app.callback()(cli_support.common_options(say))


class ImagesPerSecond(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return "   ... images/s"
        return f"{task.completed / elapsed:6.1f} images/s"


@command()
def run(
    backbone: Annotated[BackboneName, typer.Option(
        metavar="NAME", help=f"Convolutional base: {', '.join(BACKBONES)} (see `extract backbones`).")],
    data: Annotated[Optional[Path], typer.Option(
        help="Images: DATA/<split>/<class>/*, DATA/<class>/*, or any folder with --labels, --label-pattern or "
             "--unlabelled.", show_default="the folder --dataset was read from")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Name of the dataset in the store; an existing one is read again as recorded (its folder, labels, "
             "splits), other options given change it.", show_default="the data folder's name")] = None,
    store: Annotated[Path, typer.Option(help="Feature store folder (created if absent).")] = Path("cache"),
    weights: Annotated[str, typer.Option(help=f"imagenet (Keras's download; offline: the files of ${WEIGHTS_DIR_ENV}), none (random init), or a Keras no-top .h5 file.")] = "imagenet",
    size: Annotated[Optional[int], typer.Option(help="Input size in pixels.", show_default="the weights' own (their manifest), else the backbone's")] = None,
    layer: Annotated[Optional[str], typer.Option(help="Layer whose output is cached.", show_default="the end of the last block")] = None,
    pool: Annotated[Pooling, typer.Option(rich_help_panel=FEATURES, help="Pool the spatial features.")] = Pooling.none,
    dtype: Annotated[Dtype, typer.Option(rich_help_panel=FEATURES, help="Storage precision of the features.")] = Dtype.float16,
    preprocess: Annotated[Optional[Preprocess], typer.Option(rich_help_panel=FEATURES, help="Override the weights' preprocessing.", show_default="the weights' own (their manifest, else the backbone's)")] = None,
    alpha: Annotated[Optional[float], typer.Option(rich_help_panel=FEATURES, help="Width multiplier (MobileNet family).", show_default="1.0 where the backbone has one")] = None,
    resize: Annotated[Resize, typer.Option(rich_help_panel=FEATURES, help="squash to the size, or crop/pad to keep the aspect ratio.")] = Resize.squash,
    mixed_precision: Annotated[bool, typer.Option(
        "--mixed-precision", rich_help_panel=FEATURES, help="Compute in float16 on GPUs (faster; other numbers, so a configuration of its own).")] = False,
    quantize: Annotated[Optional[Quantize], typer.Option(rich_help_panel=FEATURES, help="int8 base (own id).", show_default="float")] = None,
    layout: Annotated[Optional[Layout], typer.Option(rich_help_panel=DATA, metavar="LAYOUT",
        help=f"How DATA is laid out: {', '.join(LAYOUTS)} (auto: detected).", show_default="auto, or as recorded")] = None,
    val_fraction: Annotated[Optional[float], typer.Option(rich_help_panel=DATA,
        help="Validation share of the files no folder or table column puts in a split.", show_default="0.2")] = None,
    test_fraction: Annotated[Optional[float], typer.Option(rich_help_panel=DATA,
        help="Test share of those files (a test split, scored apart).", show_default="0")] = None,
    split_seed: Annotated[Optional[int], typer.Option(rich_help_panel=DATA,
        help="Seed of the split rule (0: the stable split by file name of earlier versions).",
        show_default="0")] = None,
    group_duplicates: Annotated[Optional[bool], typer.Option(
        "--group-duplicates/--no-grouping", rich_help_panel=DATA,
        help="Keep each group of duplicates (same content, or cosine >= 0.95 in this configuration's features) in "
             "one split: files the split rule placed follow the group; splits the data gives are kept. "
             "--no-grouping turns a recorded grouping off.",
        show_default="no, or as recorded")] = None,
    labels: Annotated[Optional[Path], typer.Option(rich_help_panel=DATA,
        help="Labels table (CSV/TSV): a file column (path under DATA, or an id), a label column, "
             "optionally a split column.", show_default="none: folders give the labels")] = None,
    file_column: Annotated[Optional[str], typer.Option(rich_help_panel=DATA,
        help="Table column of the files.", show_default="detected: id, filename, file, path, image")] = None,
    label_column: Annotated[Optional[str], typer.Option(rich_help_panel=DATA,
        help="Table column of the labels.", show_default="detected: label, class, breed, category")] = None,
    split_column: Annotated[Optional[str], typer.Option(rich_help_panel=DATA,
        help="Table column of the splits.", show_default="detected: split, subset; else the split rule")] = None,
    extension: Annotated[Optional[str], typer.Option(rich_help_panel=DATA,
        help="Extension added to table ids that name no file, e.g. jpg.",
        show_default="try the image extensions")] = None,
    label_pattern: Annotated[Optional[str], typer.Option(rich_help_panel=DATA,
        help="Labels from file names: a regular expression with one group, e.g. '^(cat|dog)\\.'.",
        show_default="none")] = None,
    unlabelled: Annotated[Optional[bool], typer.Option(
        "--unlabelled/--no-unlabelled", rich_help_panel=DATA,
        help="Read images without a label (loose folders, unlisted files) as unlabelled rows, e.g. for "
             "`heads predict` to reuse.", show_default="no")] = None,
    strict: Annotated[bool, typer.Option("--strict", rich_help_panel=DATA, help="Fail (listing them) instead of skipping unusable files.")] = False,
    rehash: Annotated[bool, typer.Option("--rehash", rich_help_panel=DATA, help="Hash every file; trust no recorded stat.")] = False,
    max_image_mb: Annotated[float, typer.Option(rich_help_panel=DATA, help="Reject larger files unread.")] = 512,
    views: Annotated[int, typer.Option(rich_help_panel=VIEWS, help="Also cache K fixed augmented views of the train images (for fine-tuning).")] = 0,
    flip: augment_options.Flip = augment_options.DEFAULT.flip,
    rotation: augment_options.Rotation = augment_options.DEFAULT.rotation,
    zoom: augment_options.Zoom = augment_options.DEFAULT.zoom,
    shift: augment_options.Shift = augment_options.DEFAULT.shift,
    augment_seed: Annotated[int, typer.Option(rich_help_panel=VIEWS, help="Views: seed; a view is a function of seed, view and image.")] = 0,
    tta: Annotated[int, typer.Option(rich_help_panel=VIEWS, help="Also cache K fixed test-time views of every split (a horizontal flip, then zooms) for `heads eval/predict --tta K`.")] = 0,
    batch_size: Annotated[int, typer.Option(rich_help_panel=SCALE, help="Images per forward pass.")] = 32,
    shard_size: Annotated[int, typer.Option(rich_help_panel=SCALE, help="Images per committed shard (the most a kill can lose).")] = 256,
    xla: Annotated[Optional[bool], typer.Option(rich_help_panel=SCALE, help="Force XLA on/off.", show_default="per backbone")] = None,
    runtime: Annotated[RuntimeName, typer.Option(rich_help_panel=SCALE, metavar="NAME", help="Runtime of the base.")] = RuntimeName.tensorflow,
    decode_workers: Annotated[Optional[int], typer.Option(rich_help_panel=SCALE, help="Decode processes (0: none).", show_default="per runtime")] = None,
    engine: Annotated[EngineName, typer.Option(rich_help_panel=SCALE, help="local (this process) or ray (pip install -e \".\\[ray]\").")] = EngineName.local,
    address: Annotated[Optional[str], typer.Option(rich_help_panel=SCALE, help="Ray cluster to join, e.g. auto.", show_default="start one here")] = None,
    workers: Annotated[Optional[int], typer.Option(rich_help_panel=SCALE, help="Ray workers.", show_default="as many as the cluster's CPUs or GPUs fit")] = None,
    gpus_per_worker: Annotated[Optional[float], typer.Option(rich_help_panel=SCALE, help="GPUs per Ray worker (1: one worker per GPU).", show_default="0")] = None,
    cpus_per_worker: Annotated[Optional[float], typer.Option(rich_help_panel=SCALE, help="CPUs (TensorFlow threads) per Ray worker.", show_default="1")] = None,
    max_retries: Annotated[Optional[int], typer.Option(rich_help_panel=SCALE, help="Retries of a failed shard task under Ray.", show_default="2")] = None,
    shard: Annotated[Optional[str], typer.Option(rich_help_panel=SCALE, help="Do only slice i of n (0 <= i < n), e.g. 3/16; then `extract merge`.", show_default="the whole dataset")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Extract and cache the features of every image not already in the store."""
    arguments = dict(locals())  # the data options among them: see _given_data_options
    from extract.api import run_extraction
    from extract.run_summary import RunSummary
    from extract.view_runs import run_tta, run_views
    from extract.augment import AugmentSpec, tta_views
    from extract.dataset_plan import dataset_options
    from extract.options import ExtractOptions, RunOptions

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), ImagesPerSecond(),
                        TimeRemainingColumn(), TextColumn("{task.fields[workers]}"), console=errors, transient=False,
                        disable=as_json or cli_support.quiet())
    task_id = None
    meter = WorkerMeter()

    def on_start(total: int) -> None:
        nonlocal task_id
        if total:
            progress.start()
            label = "extracting" if task_id is None else "next view"
            task_id = progress.add_task(label, total=total, workers="")

    def on_progress(count: int) -> None:
        progress.advance(task_id, count)

    def on_worker_progress(worker: str, count: int) -> None:
        meter(worker, count)
        if engine is not EngineName.local:
            progress.update(task_id, workers=_worker_rates(meter.summary()))
        else:  # the one worker's label says where the images go: "local CPU", "local GPU:0 (name)"
            progress.update(task_id, workers=worker)

    try:
        if (views or tta) and shard:
            raise ValueError(f"--views and --tta do not combine with --shard; run the slices without views. "
                             f"Received: --views {views} --tta {tta}")
        tta_views(tta)  # a count out of range is refused before anything is extracted
        extractor = ExtractOptions(
            backbone=backbone.value, weights=weights, size=size, layer=layer, pool=pool.value, dtype=dtype.value,
            preprocess=preprocess.value if preprocess else None, alpha=alpha, resize=resize.value,
            mixed_precision=mixed_precision, quantize=quantize.value if quantize else None)
        data, data_options = dataset_options(store, dataset, data, **_given_data_options(arguments))
        run_options = RunOptions(
            batch_size=batch_size, data=data_options, strict=strict, rehash=rehash, max_image_mb=max_image_mb,
            shard_size=shard_size, xla=xla, engine=engine.value, address=address, workers=workers,
            gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker, max_retries=max_retries, shard=shard,
            runtime=runtime.value, decode_workers=decode_workers)
        callbacks = dict(on_start=on_start, on_progress=on_progress, on_worker_progress=on_worker_progress)
        if views:
            spec = AugmentSpec(flip=flip, rotation=rotation, zoom=zoom, shift=shift, seed=augment_seed)
            summaries: list[RunSummary] = run_views(views, spec, data, store, extractor, run_options, **callbacks)
        else:
            summaries = [run_extraction(data, store, extractor, run_options, **callbacks)]
        if tta:  # the plain configuration is cached by now: only the views are extracted
            summaries += run_tta(tta, data, store, extractor, run_options, **callbacks)[1:]
    except (ValueError, RuntimeError, OSError) as error:
        progress.stop()
        fail_on(error)
        return
    progress.stop()
    if as_json:
        cli_support.print_json([_summary_json(s) for s in summaries])
        return
    from store import FeatureStore

    names = FeatureStore(store).names()
    for summary in summaries:
        _print_summary(summary, names)
    _print_notes(summaries[0])
    if summary.slice:
        console.print(f"Slice {summary.slice} done. When every slice has finished: "
                      f"extract merge --store {store}  (or a plain `extract run` without --shard).", highlight=False)


def _summary_json(summary) -> dict:
    """A run summary as plain JSON: every field, the configuration as recorded, images/s."""
    record = dataclasses.asdict(summary)
    record["config"] = summary.config.to_json()
    record["rejected"] = [{"path": path, "reason": reason} for path, reason in summary.rejected]
    record["images_per_second"] = summary.images_per_second
    return record


def _given_data_options(arguments: dict) -> dict:
    """The DataOptions fields the user gave (None: not given), by their names: a given option changes
    what the store recorded for the dataset, the others keep it (see extract.dataset_plan)."""
    return {name: getattr(value, "value", value) for name, value in arguments.items()
            if name in DATA_FIELDS and name != "name" and value is not None}


def _worker_rates(workers: dict[str, tuple[int, float]]) -> str:
    rates = sorted(rate for _, rate in workers.values() if rate)  # a worker's first report starts its clock
    if not rates:
        return ""
    if len(rates) <= 4:
        return f"{len(rates)} workers: " + ", ".join(f"{r:.1f}" for r in rates) + " images/s"
    return f"{len(rates)} workers: min {rates[0]:.1f}, median {rates[len(rates) // 2]:.1f}, max {rates[-1]:.1f} images/s"


def _print_summary(summary, names) -> None:
    """The run's table: the configuration by name and what makes it (backbone, size, layer, pool,
    preprocessing and where that came from), then what was done."""
    config = summary.config
    name = names.name(config)
    if summary.extracted == 0 and summary.cached:
        console.print(f"Nothing to extract: all {summary.cached} images are already cached for {name}.",
                      highlight=False)
    scope = f" (slice {summary.slice})" if summary.slice else ""
    table = Table(title=f"extract run: {escape(name)}{scope}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    rows = [
        ("configuration", config.config_id),
        ("backbone", config.backbone + (f" (alpha {config.alpha:g})" if config.alpha is not None else "")),
        ("size / layer / pool", f"{config.size} px ({config.resize}) / {config.layer} / {config.pool}"),
        ("preprocessing", config.preprocess + (f" ({summary.preprocess_from})" if summary.preprocess_from else "")),
    ]
    if config.augment:
        rows.append(("view", f"test-time view {config.augment['tta']}" if "tta" in config.augment
                     else f"augmented view {config.augment['view']}"))
    rows += [
        ("dataset", shown(summary.dataset)),
        ("images found", f"{summary.images} ({', '.join(f'{k} {v}' for k, v in summary.split_counts.items())})"),
        ("extracted", str(summary.extracted)),
        ("already cached", str(summary.cached)),
        ("rejected", str(len(summary.rejected))),
        ("skipped", f"{summary.skipped_hidden} hidden"),  # non-image files: a note of their own
        ("time", f"{summary.seconds:.1f} s"),
        ("speed", f"{summary.images_per_second:.1f} images/s" if summary.extracted else "-"),
        ("feature shape", f"{config.feature_shape} {config.dtype}"
                          + (f" (computed in {config.compute})" if config.compute != "float32" else "")),
        ("store size", human_bytes(summary.store_bytes)),
    ]
    if summary.changed:
        rows.insert(rows.index(("rejected", str(len(summary.rejected)))),
                    ("changed during run", f"{summary.changed} (keyed by the content read)"))
    if summary.stages:
        rows.append(("time per stage", stage_line(summary.stages, summary.input_path)))
    if summary.devices and not summary.workers:
        rows.append(("device", ", ".join(sorted(set(summary.devices.values())))))
    if summary.workers:
        rows.append(("engine", summary.engine))
        rows += [(f"  worker {name}", f"{images} images" + (f", {rate:.1f} images/s" if rate else ""))
                 for name, (images, rate) in sorted(summary.workers.items())]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for path, reason in summary.rejected[:20]:
        console.print(f"  rejected {shown(path)}: {shown(reason)}", highlight=False, soft_wrap=True)
    if len(summary.rejected) > 20:
        console.print(f"  ... and {len(summary.rejected) - 20} more (see `extract ls --rejected`)")


def _print_notes(summary) -> None:
    """The weights' note (preprocessing assumed), the scan's notes (files left out, merged, moved...), one line
    each with its count, and the line saying the dataset got a new index version: on stderr."""
    for line in [summary.weights_note] + [n.message for n in summary.notes] + [summary.dataset_note]:
        if line:
            note(line)


@command()
def backbones() -> None:
    """The backbones this tool knows, with default sizes, preprocessing and block ends."""
    table = Table(title="backbones (keras.applications)")
    for column in ("name", "size", "min", "preprocess", "alpha", "default layer", "blocks"):
        table.add_column(column)
    for spec in BACKBONES.values():
        table.add_row(spec.name, str(spec.default_size), str(spec.min_size), spec.preprocess,
                      "yes" if spec.has_alpha else "-", spec.default_layer, str(len(spec.blocks)))
    console.print(table)
    console.print("Blocks, bottom to top (block: layer that ends it; any of these is a valid --layer):")
    for spec in BACKBONES.values():
        ends = ", ".join(f"{block}: {end}" for block, end in spec.blocks)
        console.print(f"  [bold]{spec.name}[/]  {ends}", highlight=False, soft_wrap=True)


# after run and backbones: the order `extract --help` lists them in
command()(cli_store.merge)
command("ls")(cli_store.list_store)
command("rm")(cli_store.remove)
command()(cli_store.verify)


if __name__ == "__main__":
    app()
