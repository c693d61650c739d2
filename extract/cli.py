"""`extract`: the command-line face of extract.api (same parameter names).

Options before the command (--version, -q/--quiet, -v/--verbose) and the exit codes (2 usage, 3 refused
input, 1 failure during work) come from extract.cli_support, shared with `heads`. TensorFlow is imported
only by a command that builds a model (a run with images to extract), never by ls, verify or a cached rerun.
"""
from __future__ import annotations

import dataclasses  # noqa: E402
from enum import Enum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from extract import augment_options, cli_support  # noqa: E402
from extract.backbones import BACKBONES  # noqa: E402
from extract.engines import ENGINES  # noqa: E402
from extract.engines.progress import WorkerMeter  # noqa: E402
from extract.model import DTYPES, POOLING_MODES, RESIZE_MODES  # noqa: E402
from extract.options import DATA_FIELDS  # noqa: E402
from extract.sources.options import LAYOUTS  # noqa: E402
from extract.weights import PREPROCESS_MODES  # noqa: E402

app = typer.Typer(help="Stage one: cache bottleneck features of a frozen ImageNet base.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

BackboneName = Enum("BackboneName", {name: name for name in BACKBONES}, type=str)
Pooling = Enum("Pooling", {name: name for name in POOLING_MODES}, type=str)
Dtype = Enum("Dtype", {name: name for name in DTYPES}, type=str)
Resize = Enum("Resize", {name: name for name in RESIZE_MODES}, type=str)
Preprocess = Enum("Preprocess", {name: name for name in PREPROCESS_MODES}, type=str)
Layout = Enum("Layout", {name: name for name in LAYOUTS}, type=str)
EngineName = Enum("EngineName", {name: name for name in ENGINES}, type=str)


def _human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return str(count)


def _fail(message: str, code: int = 2) -> None:
    # escape: a message may hold brackets (".[ray]", a path) that rich would take for markup and drop
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def _exit_code(error: BaseException) -> int:
    """3 for input the API refuses (a ValueError), 1 for a failure while working (OSError...)."""
    return cli_support.exit_code(error)


def _say(message: str) -> None:
    errors.print(f"[dim]{escape(message)}[/]", highlight=False)


app.callback()(cli_support.common_options(_say))
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON (machine-readable) instead of tables.")]


class ImagesPerSecond(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return "   ... images/s"
        return f"{task.completed / elapsed:6.1f} images/s"


@app.command()
def run(
    backbone: Annotated[BackboneName, typer.Option(help="Convolutional base (see `extract backbones`).")],
    data: Annotated[Optional[Path], typer.Option(
        help="Images: DATA/<split>/<class>/*, DATA/<class>/*, or any folder with --labels, --label-pattern or "
             "--unlabelled.", show_default="the folder --dataset was read from")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="Name of the dataset in the store; an existing one is read again as recorded (its folder, labels, "
             "splits), other options given change it.", show_default="the data folder's name")] = None,
    store: Annotated[Path, typer.Option(help="Feature store folder (created if absent).")] = Path("cache"),
    weights: Annotated[str, typer.Option(help="imagenet, none (random init), or a Keras no-top .h5 file.")] = "imagenet",
    size: Annotated[Optional[int], typer.Option(help="Input size in pixels.", show_default="the backbone's")] = None,
    layer: Annotated[Optional[str], typer.Option(help="Layer whose output is cached.", show_default="the end of the last block")] = None,
    pool: Annotated[Pooling, typer.Option(help="Pool the spatial features.")] = Pooling.none,
    dtype: Annotated[Dtype, typer.Option(help="Storage precision of the features.")] = Dtype.float16,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 32,
    preprocess: Annotated[Optional[Preprocess], typer.Option(help="Override the weights' preprocessing.", show_default="the weights' own (their manifest, else the backbone's)")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Width multiplier (MobileNet family).", show_default="1.0 where the backbone has one")] = None,
    resize: Annotated[Resize, typer.Option(help="squash to the size, or crop/pad to keep the aspect ratio.")] = Resize.squash,
    layout: Annotated[Optional[Layout], typer.Option(
        help="How DATA is laid out (auto: detected).", show_default="auto, or as recorded")] = None,
    val_fraction: Annotated[Optional[float], typer.Option(
        help="Validation share of the files no folder or table column puts in a split.", show_default="0.2")] = None,
    test_fraction: Annotated[Optional[float], typer.Option(
        help="Test share of those files (a test split, scored apart).", show_default="0")] = None,
    split_seed: Annotated[Optional[int], typer.Option(
        help="Seed of the split rule (0: the stable split by file name of earlier versions).",
        show_default="0")] = None,
    group_duplicates: Annotated[Optional[bool], typer.Option(
        "--group-duplicates/--no-group-duplicates",
        help="Keep each group of duplicates (same content, or cosine >= 0.95 in this configuration's features) in "
             "one split: files the split rule placed follow the group; splits the data gives are kept.",
        show_default="no, or as recorded")] = None,
    labels: Annotated[Optional[Path], typer.Option(
        help="Labels table (CSV/TSV): a file column (path under DATA, or an id), a label column, "
             "optionally a split column.", show_default="none: folders give the labels")] = None,
    file_column: Annotated[Optional[str], typer.Option(
        help="Table column of the files.", show_default="detected: id, filename, file, path, image")] = None,
    label_column: Annotated[Optional[str], typer.Option(
        help="Table column of the labels.", show_default="detected: label, class, breed, category")] = None,
    split_column: Annotated[Optional[str], typer.Option(
        help="Table column of the splits.", show_default="detected: split, subset; else the split rule")] = None,
    extension: Annotated[Optional[str], typer.Option(
        help="Extension added to table ids that name no file, e.g. jpg.",
        show_default="try the image extensions")] = None,
    label_pattern: Annotated[Optional[str], typer.Option(
        help="Labels from file names: a regular expression with one group, e.g. '^(cat|dog)\\.'.",
        show_default="none")] = None,
    unlabelled: Annotated[Optional[bool], typer.Option(
        "--unlabelled/--no-unlabelled",
        help="Read images without a label (loose folders, unlisted files) as unlabelled rows, e.g. for "
             "`heads predict` to reuse.", show_default="no")] = None,
    strict: Annotated[bool, typer.Option(help="Fail (listing them) instead of skipping unusable files.")] = False,
    shard_size: Annotated[int, typer.Option(help="Images per committed shard (the most a kill can lose).")] = 256,
    xla: Annotated[Optional[bool], typer.Option(help="Force XLA on/off.", show_default="per backbone, as measured")] = None,
    engine: Annotated[EngineName, typer.Option(help="local (this process) or ray (pip install -e \".\\[ray]\").")] = EngineName.local,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster to join, e.g. auto.", show_default="start a local instance")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Ray workers.", show_default="as many as the cluster's CPUs or GPUs fit")] = None,
    gpus_per_worker: Annotated[Optional[float], typer.Option(help="GPUs per Ray worker (1: one worker per GPU).", show_default="0")] = None,
    cpus_per_worker: Annotated[Optional[float], typer.Option(help="CPUs (TensorFlow threads) per Ray worker.", show_default="1")] = None,
    max_retries: Annotated[Optional[int], typer.Option(help="Retries of a failed shard task under Ray.", show_default="2")] = None,
    shard: Annotated[Optional[str], typer.Option(help="Do only slice i of n (0 <= i < n), e.g. 3/16; then `extract merge`.", show_default="the whole dataset")] = None,
    views: Annotated[int, typer.Option(help="Also cache K fixed augmented views of the train images (for fine-tuning).")] = 0,
    flip: augment_options.Flip = augment_options.DEFAULT.flip,
    rotation: augment_options.Rotation = augment_options.DEFAULT.rotation,
    zoom: augment_options.Zoom = augment_options.DEFAULT.zoom,
    shift: augment_options.Shift = augment_options.DEFAULT.shift,
    augment_seed: Annotated[int, typer.Option(help="Views: seed; a view is a function of seed, view and image.")] = 0,
    tta: Annotated[int, typer.Option(help="Also cache K fixed test-time views of every split (a horizontal flip, then zooms) for `heads eval/predict --tta K`.")] = 0,
    mixed_precision: Annotated[bool, typer.Option(
        help="Compute in float16 on GPUs (faster; other numbers, so a configuration of its own).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Extract and cache the features of every image not already in the store."""
    arguments = dict(locals())  # the data options among them: see _given_data_options
    from extract.api import RunSummary, run_extraction, run_tta, run_views
    from extract.augment import AugmentSpec, tta_views
    from extract.dataset_plan import dataset_options
    from extract.options import ExtractOptions, RunOptions

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), ImagesPerSecond(),
                        TimeRemainingColumn(), TextColumn("{task.fields[workers]}"), console=console, transient=False,
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
            mixed_precision=mixed_precision)
        data, data_options = dataset_options(store, dataset, data, **_given_data_options(arguments))
        run_options = RunOptions(
            batch_size=batch_size, data=data_options, strict=strict,
            shard_size=shard_size, xla=xla, engine=engine.value, address=address, workers=workers,
            gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker, max_retries=max_retries, shard=shard)
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
        _fail(str(error), _exit_code(error))
        return
    progress.stop()
    if as_json:
        cli_support.print_json([_summary_json(s) for s in summaries])
        return
    for summary in summaries:
        _print_summary(summary)
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


def _print_summary(summary) -> None:
    config = summary.config
    if summary.extracted == 0 and summary.cached:
        console.print(f"Nothing to extract: all {summary.cached} images are already cached "
                      f"for configuration {config.config_id}.")
    scope = f" (slice {summary.slice})" if summary.slice else ""
    if config.augment:
        scope += (f" (test-time view {config.augment['tta']})" if "tta" in config.augment
                  else f" (augmented view {config.augment['view']})")
    table = Table(title=f"extract run: {config.config_id}{scope}", show_header=False)
    rows = [
        ("dataset", summary.dataset),
        ("images found", f"{summary.images} ({', '.join(f'{k} {v}' for k, v in summary.split_counts.items())})"),
        ("extracted", str(summary.extracted)),
        ("already cached", str(summary.cached)),
        ("rejected", str(len(summary.rejected))),
        ("skipped", f"{summary.skipped_hidden} hidden"),  # non-image files: a note of their own
        ("time", f"{summary.seconds:.1f} s"),
        ("speed", f"{summary.images_per_second:.1f} images/s" if summary.extracted else "-"),
        ("feature shape", f"{config.feature_shape} {config.dtype}"
                          + (f" (computed in {config.compute})" if config.compute != "float32" else "")),
        ("store size", _human_bytes(summary.store_bytes)),
    ]
    if summary.changed:
        rows.insert(5, ("changed during run", f"{summary.changed} (keyed by the content read)"))
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
        console.print(f"  rejected {path}: {reason}", highlight=False)
    if len(summary.rejected) > 20:
        console.print(f"  ... and {len(summary.rejected) - 20} more (see `extract ls --rejected`)")


def _print_notes(summary) -> None:
    """The scan's notes (files left out, merged, moved...), one line each with its count, and the line
    saying the dataset got a new index version."""
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note.message)}", highlight=False, soft_wrap=True)
    if summary.dataset_note:
        console.print(f"[yellow]note:[/] {escape(summary.dataset_note)}", highlight=False, soft_wrap=True)


@app.command()
def merge(
    store: Annotated[Path, typer.Option(help="Feature store folder to merge into.")] = Path("cache"),
    sources: Annotated[Optional[list[Path]], typer.Option(
        "--from", help="Another store whose shards to import (repeatable), e.g. a slice's local store.",
        show_default="none: only this store's slices")] = None,
) -> None:
    """Record shards written by `--shard` slices (here or in other stores) and write the dataset index."""
    from store.merge import merge_store

    try:
        report = merge_store(store, sources or [])
    except (ValueError, RuntimeError, OSError) as error:
        _fail(str(error), _exit_code(error))
        return
    if sources:
        console.print(f"Imported {report.imported_rows} feature rows in {report.imported_shards} shards "
                      f"({report.skipped_rows} rows were already in the store).")
    if report.leftovers_removed:
        console.print(f"Removed {report.leftovers_removed} uncommitted leftovers of killed writers.")
    for config_id, dataset, written in report.indexed:
        console.print(f"{config_id}: slices combined into the dataset index {dataset}/{written}.", highlight=False,
                      soft_wrap=True)
    for config_id, dataset, why in report.waiting:
        console.print(f"[yellow]{config_id}: no index of dataset {escape(dataset)} yet: {why}.[/]", highlight=False,
                      soft_wrap=True)
    if not report.indexed and not report.waiting:
        console.print("No slice indexes to combine: the dataset indexes are up to date.")
    if report.waiting:
        raise typer.Exit(code=1)


@app.command("ls")
def list_store(
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("cache"),
    rejected: Annotated[bool, typer.Option(help="Also list the files that have no features, with why.")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset.", show_default="every dataset with features")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The configurations a store holds, their images per split for each dataset, size on disk."""
    from store import FeatureStore

    try:
        feature_store = FeatureStore(store)
        configs = feature_store.configs()
        if dataset is not None:
            feature_store.dataset(dataset)  # an unknown name: one line listing the known ones
    except (ValueError, OSError) as error:
        _fail(str(error), _exit_code(error))
        return
    if as_json:
        cli_support.print_json(_listing_json(feature_store, configs, dataset, rejected))
        return
    if not configs:
        console.print(f"{store}: no configurations yet.")
        return
    for config in configs:
        views = feature_store.views(config.config_id, None if dataset is None else [dataset])
        shown = [v for v in views if dataset is not None or v.split_counts()]
        catalog = views[0].catalog if views else feature_store.view(config.config_id).catalog
        table = Table(title=config.config_id, show_header=False, title_justify="left")
        for key, value in (
            ("backbone", config.backbone + (f" (alpha {config.alpha})" if config.alpha else "")),
            ("weights", f"{config.weights_source} (sha256 {config.weights_sha256[:12]})"),
            ("preprocess / size / resize", f"{config.preprocess} / {config.size} px / {config.resize}"),
            ("layer / pool / dtype", f"{config.layer} / {config.pool} / {config.dtype}"),
            ("augmentation", "none" if not config.augment else ", ".join(f"{k} {v}" for k, v in config.augment.items())),
            ("feature shape", str(config.feature_shape)),
            *([(f"dataset {v.dataset}", (", ".join(f"{k} {n}" for k, n in v.split_counts().items()) or "no features")
                + f"; {len(v.rejected())} rejected") for v in shown] or [("images per split", "no completed run yet")]),
            ("features cached", str(len(catalog.rows))),
            ("on disk", _human_bytes(_config_bytes(feature_store, config.config_id))),
        ):
            table.add_row(key, value)
        console.print(table)
        for view in shown if rejected else []:
            for path, reason in view.rejected():
                console.print(f"  {view.dataset}: {path}: {reason}", highlight=False, soft_wrap=True)


def _config_bytes(feature_store, config_id: str) -> int:
    return sum(p.stat().st_size for p in feature_store.layout.config_dir(config_id).rglob("*") if p.is_file())


def _listing_json(feature_store, configs, dataset: Optional[str], rejected: bool) -> dict:
    """`extract ls --json`: each configuration as recorded, its datasets' counts per split, bytes on disk."""
    listing = []
    for config in configs:
        views = feature_store.views(config.config_id, None if dataset is None else [dataset])
        catalog = views[0].catalog if views else feature_store.view(config.config_id).catalog
        listing.append({
            "config": config.to_json(), "features_cached": len(catalog.rows),
            "bytes": _config_bytes(feature_store, config.config_id),
            "datasets": [{"name": v.dataset, "split_counts": v.split_counts(), "rejected_count": len(v.rejected()),
                          **({"rejected": [{"path": p, "reason": r} for p, r in v.rejected()]} if rejected else {})}
                         for v in views if dataset is not None or v.split_counts()]})
    return {"store": str(feature_store.layout.root), "configs": listing}


@app.command()
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


@app.command()
def verify(
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("cache"),
    repair: Annotated[bool, typer.Option(help="Drop what is broken; the next run re-extracts only that.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check every shard against its commit marker, the dataset indexes against the shards, and
    report temporaries that no writer will publish (--repair deletes those of dead writers)."""
    from store.verify import verify_store

    try:
        report = verify_store(store, repair=repair)
    except (ValueError, RuntimeError, OSError) as error:
        _fail(str(error), _exit_code(error))
        return
    if as_json:
        cli_support.print_json({"store": str(store), "ok": report.ok, "shards_checked": report.shards_checked,
                                "rows_checked": report.rows_checked,
                                "problems": [{"path": str(p.path), "what": p.what} for p in report.problems],
                                "repaired": [str(p) for p in report.repaired]})
        if not report.ok and not (repair and report.repaired):
            raise typer.Exit(code=1)
        return
    for problem in report.problems:
        console.print(f"[red]problem[/] {problem.path}: {problem.what}", highlight=False, soft_wrap=True)
    console.print(f"{report.shards_checked} shards, {report.rows_checked} feature rows checked; "
                  f"{len(report.problems)} problems.")
    if repair and report.repaired:
        console.print(f"Dropped {len(report.repaired)} files; `extract run` again re-extracts what they held.")
    elif not report.ok:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
