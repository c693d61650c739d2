"""`extract merge`: record into one store what slices wrote, here or in other stores.

Slices on a shared filesystem commit their shards straight into the store, so merging
them only combines their partial indexes into the run index of the whole dataset.
Slices that wrote to stores of their own (no shared filesystem) are imported with
`--from`: each committed shard is checked against its marker and rewritten here through
the usual commit protocol, without the rows this store already holds, so every image is
stored once. Merge takes the writer lock exclusively: it waits for no slice, it refuses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py

from extract import slices
from store import atomic, shards
from store.catalog import ShardCatalog
from store.config import ExtractorConfig
from store.layout import StoreLayout
from store.lock import writer_lock
from store.reader import FeatureStore, StoreError, init_store
from store.runs import write_run


@dataclass
class MergeReport:
    imported_shards: int = 0
    imported_rows: int = 0
    skipped_rows: int = 0  # already in this store
    leftovers_removed: int = 0
    runs: dict[str, str] = field(default_factory=dict)  # config id -> run index written
    waiting: dict[str, str] = field(default_factory=dict)  # config id -> why no index was written


def _import_config(layout: StoreLayout, source: StoreLayout, config: ExtractorConfig, report: MergeReport) -> None:
    config_id = config.config_id
    config_file = layout.config_file(config_id)
    if not config_file.is_file():
        atomic.write_json(config_file, config.to_json())
    catalog = ShardCatalog.load(layout.shards_dir(config_id))
    present = set(catalog.rows) | set(catalog.rejected)
    for path, marker in shards.committed_shards(source.shards_dir(config_id)):
        if shards.file_sha256(path) != marker.get("sha256"):
            raise StoreError(f"Shard {path} differs from its commit marker (corrupted); "
                             f"run `extract verify --repair --store {source.root}` first.")
        with h5py.File(path, "r") as f:
            if f.attrs.get("config_id") != config_id:
                raise StoreError(f"Shard {path} belongs to {f.attrs.get('config_id')!r}, not {config_id}.")
            hashes = [h.decode() for h in f["hashes"][:]]
            keep = [i for i, h in enumerate(hashes) if h not in present]
            features = f["features"][keep] if keep else None
            rejected = [(h.decode(), r.decode() if isinstance(r, bytes) else r)
                        for h, r in zip(f["rejected_hashes"][:], f["rejected_reasons"][:]) if h.decode() not in present]
        report.skipped_rows += len(hashes) - len(keep)
        if not keep and not rejected:
            continue
        content = shards.ShardContent([hashes[i] for i in keep], features if keep else
                                      _empty(config), [h for h, _ in rejected], [r for _, r in rejected])
        shards.write_shard(layout.shards_dir(config_id), config_id, content)
        present.update(content.hashes, content.rejected_hashes)
        report.imported_shards += 1
        report.imported_rows += len(keep)
    for partial in sorted((source.runs_dir(config_id) / slices.PARTIAL_DIR).glob("slice-*.h5")):
        target = layout.runs_dir(config_id) / slices.PARTIAL_DIR / partial.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(target, partial.read_bytes())


def _empty(config: ExtractorConfig):
    import numpy as np

    return np.zeros((0, *config.feature_shape), dtype=config.dtype)


def _combine_partials(layout: StoreLayout, config_id: str, report: MergeReport) -> None:
    folder = layout.runs_dir(config_id) / slices.PARTIAL_DIR
    paths = sorted(folder.glob("slice-*.h5")) if folder.is_dir() else []
    if not paths:
        return
    partials = [slices.read_partial(p) for p in paths]
    groups: dict[int, list[slices.Partial]] = {}
    for partial in partials:
        groups.setdefault(partial.part.count, []).append(partial)
    complete = [g for count, g in groups.items() if {p.part.index for p in g} == set(range(count))]
    if not complete:
        count, group = max(groups.items(), key=lambda item: len(item[1]))
        missing = sorted(set(range(count)) - {p.part.index for p in group})
        report.waiting[config_id] = f"slices {', '.join(map(str, missing))} of {count} have not finished"
        return
    group = max(complete, key=lambda g: max(p.path.stat().st_mtime for p in g))
    run = write_run(layout.runs_dir(config_id), config_id, slices.combine(group))
    report.runs[config_id] = run.name
    for partial in partials:  # the run index now says it all; older sets are superseded too
        partial.path.unlink(missing_ok=True)


def merge_store(store: str | Path, sources: list[str | Path] = ()) -> MergeReport:
    layout = StoreLayout(Path(store))
    foreign = [FeatureStore(s) for s in sources]  # each must be a readable store before anything is written
    for other in foreign:
        if other.layout.root.resolve() == layout.root.resolve():
            raise StoreError(f"--from names the store itself. Received: {other.layout.root}")
    if foreign:
        init_store(layout.root)
    feature_store = FeatureStore(layout.root)
    report = MergeReport()
    for other in foreign:
        for config in other.configs():
            with writer_lock(layout.lock_file(config.config_id)):
                _import_config(layout, other.layout, config, report)
    for config in feature_store.configs():
        with writer_lock(layout.lock_file(config.config_id)):
            for leftover in shards.uncommitted_files(layout.shards_dir(config.config_id)):
                leftover.unlink(missing_ok=True)
                report.leftovers_removed += 1
            _combine_partials(layout, config.config_id, report)
    return report
