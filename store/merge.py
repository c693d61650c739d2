"""`extract merge`: record into one store what slices wrote, here or in other stores.

Slices on a shared filesystem commit their shards straight into the store, so merging them
only combines their partial indexes into the dataset's index. Slices that wrote to stores of
their own (no shared filesystem) are imported with `--from`: each committed shard is checked
against its marker and rewritten here through the usual commit protocol, without the rows this
store already holds, so every image is stored once. Merge takes each configuration's writer
lock exclusively: it waits for no slice, it refuses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from store import partials, shards
from store.catalog import ShardCatalog
from store.config import ExtractorConfig, write_config
from store.datasets import write_dataset
from store.errors import StoreError
from store.layout import StoreLayout
from store.lock import writer_lock
from store.reader import FeatureStore, init_store
from store.runs import RunRecord, write_run_record

# Checks a sample of an imported shard's new rows: (config, shard path, hashes, features) -> import it?
# extract.import_check.ImportCheck is one (it computes features, which the store never does itself).
ImportChecker = Callable[[ExtractorConfig, Path, list, np.ndarray], bool]


@dataclass
class MergeReport:
    imported_shards: int = 0
    imported_rows: int = 0
    skipped_rows: int = 0  # already in this store
    leftovers_removed: int = 0
    refused_shards: int = 0  # imported shards whose checked rows disagreed with their images
    indexed: list[tuple[str, str, str]] = field(default_factory=list)  # (config id, dataset, index file written)
    waiting: list[tuple[str, str, str]] = field(default_factory=list)  # (config id, dataset, why no index)


def _import_shards(layout: StoreLayout, source: StoreLayout, config: ExtractorConfig, report: MergeReport,
                   check: ImportChecker | None) -> None:
    config_id = config.config_id
    catalog = ShardCatalog.load(layout.shards_dir(config_id))
    present = set(catalog.rows) | set(catalog.rejected)
    for path, marker in shards.committed_shards(source.shards_dir(config_id)):
        if shards.file_sha256(path) != marker.get("sha256"):
            raise StoreError(f"Shard {path} differs from its commit marker (corrupted); "
                             f"run `extract verify --repair --store {source.root}` first.")
        owner = shards.shard_config_id(path)
        if owner != config_id:
            raise StoreError(f"Shard {path} belongs to {owner!r}, not {config_id}.")
        hashes, rejected, reasons = shards.read_keys(path)
        keep = [i for i, h in enumerate(hashes) if h.decode() not in present]
        bad = [(h.decode(), r) for h, r in zip(rejected, reasons) if h.decode() not in present]
        report.skipped_rows += len(hashes) - len(keep)
        if not keep and not bad:
            continue
        kept = shards.read_shard(path, rows=keep) if keep else shards.ShardContent(
            [], np.zeros((0, *config.feature_shape), dtype=config.dtype), [], [])
        if check is not None and not check(config, path, kept.hashes, kept.features):
            report.refused_shards += 1
            continue  # its images stay uncached here: the next `extract run` extracts them
        content = shards.ShardContent(kept.hashes, kept.features, [h for h, _ in bad], [r for _, r in bad])
        shards.write_shard(layout.shards_dir(config_id), config_id, content)
        present.update(content.hashes, content.rejected_hashes)
        report.imported_shards += 1
        report.imported_rows += len(keep)


def _import_partials(layout: StoreLayout, source: StoreLayout, config_id: str) -> None:
    found = partials.partial_files(source, config_id)
    found += sorted((source.runs_dir(config_id) / "partial").glob(partials.PARTIAL_GLOB))  # a version-1 source
    for path in found:
        partial = partials.read_partial(path)
        target = partials.partial_path(layout, config_id, partial.rows.name, partial.index, partial.count)
        if not target.exists():
            partials.write_partial(layout, config_id, partial.index, partial.count, partial.rows,
                                   partial.positions, partial.total, partial.listing, partial.run_stats)


def _combine_partials(layout: StoreLayout, config_id: str, report: MergeReport) -> None:
    by_dataset: dict[str, list[partials.Partial]] = {}
    for path in partials.partial_files(layout, config_id):
        by_dataset.setdefault(path.parent.name, []).append(partials.read_partial(path))
    for dataset, found in sorted(by_dataset.items()):
        groups: dict[int, list[partials.Partial]] = {}
        for partial in found:
            groups.setdefault(partial.count, []).append(partial)
        complete = [g for count, g in groups.items() if {p.index for p in g} == set(range(count))]
        if not complete:
            count, group = max(groups.items(), key=lambda item: len(item[1]))
            missing = sorted(set(range(count)) - {p.index for p in group})
            report.waiting.append((config_id, dataset, f"slices {', '.join(map(str, missing))} of {count} "
                                                       f"have not finished"))
            continue
        group = max(complete, key=lambda g: max(p.path.stat().st_mtime for p in g))
        index, run_stats = partials.combine(group)
        written = write_dataset(layout, index)
        write_run_record(layout, RunRecord(config_id, index.name, index.digest(), run_stats,
                                           engine=str(run_stats.get("engine", "local")),
                                           slice=f"{group[0].count} slices"))
        report.indexed.append((config_id, index.name, written.name))
        for partial in found:  # the dataset index now says it all; older sets are superseded too
            partial.path.unlink(missing_ok=True)


def merge_store(store: str | Path, sources: list[str | Path] = (), check: ImportChecker | None = None) -> MergeReport:
    """Import the committed shards and slice indexes of `sources` (other stores), then combine every
    complete set of slice indexes into dataset indexes.

    Parameters
    ----------
    store : str or Path
        The store merged into (created for imports).
    sources : list of str or Path
        Other stores to import from (untrusted input).
    check : callable, optional
        Called with (config, shard path, new row hashes, their features) for each shard to import;
        False refuses that shard (extract.import_check.ImportCheck recomputes a sample). None imports
        every shard whose bytes match its marker.

    Returns
    -------
    MergeReport
    """
    layout = StoreLayout(Path(store))
    foreign = [FeatureStore(s) for s in sources]  # each must be a readable store before anything is written
    for other in foreign:
        if other.layout.root.resolve() == layout.root.resolve():
            raise StoreError(f"--from names the store itself. Received: {other.layout.root}")
    if not foreign:
        FeatureStore(layout.root)  # nothing to create a store from: refuse a folder that is not one
    init_store(layout.root)  # creates it for imports; upgrades a version-1 store
    report = MergeReport()
    for other in foreign:
        for config in other.configs():
            with writer_lock(layout.lock_file(config.config_id)):
                write_config(layout, config)
                _import_shards(layout, other.layout, config, report, check)
                _import_partials(layout, other.layout, config.config_id)
    for config in FeatureStore(layout.root).configs():
        with writer_lock(layout.lock_file(config.config_id)):
            report.leftovers_removed += len(shards.delete_uncommitted(layout.shards_dir(config.config_id)))
            _combine_partials(layout, config.config_id, report)
    return report
