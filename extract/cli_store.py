"""`extract merge | ls | rm | verify`: looking after a store (thin over store.merge, store.reader, store.removal,
store.verify).

Configurations are shown and chosen by their readable names (store.names), with their ids beside.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from extract import cli_support
from extract.cli_common import JsonFlag, console, errors, fail, fail_on, human_bytes, note
from store.printable import shown

StoreOption = Annotated[Path, typer.Option(help="Feature store folder.")]


def merge(
    store: Annotated[Path, typer.Option(help="Feature store folder to merge into.")] = Path("cache"),
    sources: Annotated[Optional[list[Path]], typer.Option(
        "--from", help="Another store whose shards to import (repeatable), e.g. a slice's local store.",
        show_default="none: only this store's slices")] = None,
    check: Annotated[str, typer.Option(
        help="Images per imported shard whose features are recomputed here: N, 0 (trust) or all.")] = "4",
) -> None:
    """Record shards written by `--shard` slices (here or in other stores) and write the dataset index."""
    from extract.import_check import merge_checked

    try:
        report, checked = merge_checked(store, sources or [], check)
    except (ValueError, RuntimeError, OSError) as error:
        fail_on(error)
        return
    if sources:
        console.print(f"Imported {report.imported_rows} feature rows in {report.imported_shards} shards "
                      f"({report.skipped_rows} rows were already in the store).")
        for line in checked.summary():
            note(line)
        if checked.refused:
            more = f" (and {len(checked.refused) - 1} more shards)" if len(checked.refused) > 1 else ""
            errors.print(f"[bold red]error:[/] {escape(checked.refused[0][1])}{escape(more)} Their images were "
                         f"not imported: `extract run` extracts them here.", highlight=False, soft_wrap=True)
    if report.leftovers_removed:
        console.print(f"Removed {report.leftovers_removed} uncommitted leftovers of killed writers.")
    from store import FeatureStore

    names = FeatureStore(store).names()
    for config_id, dataset, written in report.indexed:
        console.print(f"{escape(names.name(config_id))}: slices combined into the dataset index {shown(dataset)}/{written}.",
                      highlight=False, soft_wrap=True)
    for config_id, dataset, why in report.waiting:
        console.print(f"[yellow]{escape(names.name(config_id))}: no index of dataset {escape(dataset)} yet: "
                      f"{escape(why)}.[/]", highlight=False, soft_wrap=True)
    if not report.indexed and not report.waiting:
        console.print("No slice indexes to combine: the dataset indexes are up to date.")
    if checked.refused:
        raise typer.Exit(code=cli_support.REFUSED)
    if report.waiting:
        raise typer.Exit(code=1)


def list_store(
    store: StoreOption = Path("cache"),
    config: Annotated[Optional[list[str]], typer.Option(
        help="Only this configuration (name, id or id prefix; a view too); repeatable.",
        show_default="every configuration")] = None,
    rejected: Annotated[bool, typer.Option(help="Also list the files that have no features, with why.")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset.", show_default="every dataset with features")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The configurations a store holds (by readable name), their images per split for each dataset, size on disk."""
    from store import FeatureStore

    try:
        feature_store = FeatureStore(store)
        names = feature_store.names()
        configs = names.resolve_all(config, views=True, where=f"Store {store}") if config else names.configs
        if dataset is not None:
            feature_store.dataset(dataset)  # an unknown name: one line listing the known ones
        # Every record is read before anything is printed: a hostile index or shard is one line, not half a table.
        if as_json:
            payload = _listing_json(feature_store, names, configs, dataset, rejected)
        else:
            read = {}
            for chosen in configs:
                views = feature_store.views(chosen.config_id, None if dataset is None else [dataset])
                catalog = views[0].catalog if views else feature_store.view(chosen.config_id).catalog
                read[chosen.config_id] = views, catalog, [v for v in views if dataset is not None or v.split_counts()]
    except (ValueError, OSError) as error:
        fail_on(error)
        return
    if as_json:
        cli_support.print_json(payload)
        return
    if not configs:
        console.print(f"{store}: no configurations yet.")
        return
    for chosen in configs:
        views, catalog, listed = read[chosen.config_id]
        table = Table(title=f"[bold]{escape(names.name(chosen))}[/]  ({chosen.config_id})", show_header=False,
                      title_justify="left")
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in (
            ("backbone", chosen.backbone + (f" (alpha {chosen.alpha:g})" if chosen.alpha else "")),
            ("weights", _weights(chosen)),
            ("preprocess / size / resize", f"{chosen.preprocess} / {chosen.size} px / {chosen.resize}"),
            ("layer / pool / dtype", f"{chosen.layer} / {chosen.pool} / {chosen.dtype}"),
            ("view", "none" if not chosen.augment else ", ".join(f"{k} {v}" for k, v in chosen.augment.items())),
            ("feature shape", str(chosen.feature_shape)),
            *([(f"dataset {shown(v.dataset)}", (", ".join(f"{k} {n}" for k, n in v.split_counts().items()) or "no features")
                + f"; {len(v.rejected())} rejected") for v in listed] or [("images per split", "no completed run yet")]),
            ("features cached", str(catalog.feature_count)),
            ("on disk", human_bytes(_config_bytes(feature_store, chosen.config_id))),
        ):
            table.add_row(key, value)
        console.print(table)
        for view in listed if rejected else []:
            for path, reason in view.rejected():
                console.print(f"  {shown(view.dataset)}: {shown(path)}: {shown(reason)}", highlight=False, soft_wrap=True)


def _weights(config) -> str:
    if config.weights_sha256.startswith("random-init"):
        return "none (random init, seeded)"
    return f"{config.weights_source} (sha256 {config.weights_sha256.split('-')[-1][:12]})"


def _config_bytes(feature_store, config_id: str) -> int:
    return sum(p.stat().st_size for p in feature_store.layout.config_dir(config_id).rglob("*") if p.is_file())


def _listing_json(feature_store, names, configs, dataset: Optional[str], rejected: bool) -> dict:
    """`extract ls --json`: each configuration as recorded with its name, its datasets' counts per split, bytes."""
    listing = []
    for config in configs:
        views = feature_store.views(config.config_id, None if dataset is None else [dataset])
        catalog = views[0].catalog if views else feature_store.view(config.config_id).catalog
        listing.append({
            "name": names.name(config), "config": config.to_json(), "features_cached": catalog.feature_count,
            "bytes": _config_bytes(feature_store, config.config_id),
            "datasets": [{"name": v.dataset, "split_counts": v.split_counts(), "rejected_count": len(v.rejected()),
                          **({"rejected": [{"path": p, "reason": r} for p, r in v.rejected()]} if rejected else {})}
                         for v in views if dataset is not None or v.split_counts()]})
    return {"store": str(feature_store.layout.root), "datasets": feature_store.datasets(), "configs": listing}


def remove(
    store: StoreOption = Path("cache"),
    config: Annotated[Optional[list[str]], typer.Option(
        help="A configuration to remove with its views and features (name, id or id prefix); repeatable.",
        show_default="none")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="A dataset whose indexes to remove (its features stay: shared, keyed by content).",
        show_default="none")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Remove even what heads read or were fitted on (they then refuse this store).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove configurations or a dataset; refused in one line while a head depends on it (unless --force)."""
    from store.removal import remove_configs, remove_dataset

    if not config and dataset is None:
        fail("give what to remove: --config NAME (repeatable) or --dataset NAME. Received: neither")
    if config and dataset is not None:
        fail(f"remove configurations or a dataset, one at a time. Received: --config {config[0]} --dataset {dataset}")
    try:
        removal = remove_configs(store, config, force) if config else remove_dataset(store, dataset, force)
    except (ValueError, RuntimeError, OSError) as error:
        fail_on(error)
        return
    if as_json:
        cli_support.print_json({"removed": removal.removed, "bytes": removal.bytes, "dependents": removal.dependents})
        return
    for line in removal.removed:
        console.print(f"removed {shown(line)}", highlight=False, soft_wrap=True)
    console.print(f"{human_bytes(removal.bytes)} freed.")
    if removal.dependents:
        note(f"left without it (--force): {', '.join(removal.dependents)}")


def verify(
    store: StoreOption = Path("cache"),
    repair: Annotated[bool, typer.Option(help="Drop what is broken; the next run re-extracts only that.")] = False,
    data: Annotated[bool, typer.Option("--data", help="Also read every indexed data file and compare its content.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check every shard against its marker, the dataset indexes against the shards, and stale temporaries.

    --repair deletes what is broken and the temporaries of dead writers; the next run re-extracts what they held."""
    from extract.verify_data import verify_data
    from store.verify import verify_store

    try:
        report = verify_store(store, repair=repair)
        checked = verify_data(store) if data else None
    except (ValueError, RuntimeError, OSError) as error:
        fail_on(error)
        return
    data_problems = checked.problems if checked else []
    if as_json:
        cli_support.print_json({"store": str(store), "ok": report.ok and not data_problems,
                                "shards_checked": report.shards_checked, "rows_checked": report.rows_checked,
                                "problems": [{"path": str(p.path), "what": p.what} for p in report.problems],
                                "repaired": [str(p) for p in report.repaired],
                                "data": None if checked is None else {
                                    "files_read": checked.files_read,
                                    "problems": [{"dataset": d, "path": p, "what": w} for d, p, w in data_problems]}})
        if data_problems or (not report.ok and not (repair and report.repaired)):
            raise typer.Exit(code=1)
        return
    for problem in report.problems:
        console.print(f"[red]problem[/] {shown(problem.path)}: {shown(problem.what)}", highlight=False, soft_wrap=True)
    for dataset, path, what in data_problems:
        console.print(f"[red]problem[/] {shown(dataset)}: {shown(path)}: {shown(what)}", highlight=False,
                      soft_wrap=True)
    console.print(f"{report.shards_checked} shards, {report.rows_checked} feature rows checked; "
                  f"{len(report.problems)} problems.")
    if checked is not None:
        console.print(f"{checked.files_read} data files read; {len(data_problems)} differ from their index.")
    if repair and report.repaired:
        console.print(f"Dropped {len(report.repaired)} files; `extract run` again re-extracts what they held.")
    if data_problems or (not report.ok and not (repair and report.repaired)):
        raise typer.Exit(code=1)
