"""Which dataset a run reads, and how: a data folder read with the options given, or a dataset the
store already holds, read again as it was recorded.

A dataset index keeps the options it was read with (DataOptions.to_record). A run for another
backbone therefore needs only the dataset's name: the same folder read the same way gives exactly
the same images, labels and splits. Options given on top change what they name, and the run says
in one line that the dataset got a new index version and why (heads fitted on the earlier version
say what changed for them: heads.binding).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from extract.errors import OptionError
from extract.scan import ReadRules, Scan, ScanEntry, scan_dataset
from extract.sources.options import DataOptions
from store import DatasetIndex, FeatureStore, default_dataset_name, is_store
from store.datasets import check_dataset_name
from store.layout import StoreLayout
from store.stat_cache import read_stat_cache, write_stat_cache


@dataclass
class DatasetPlan:
    root: Path
    options: DataOptions  # as given or recorded; checked by the scan
    previous: DatasetIndex | None  # the newest index of that name in the store, if any


def recorded_dataset(store: str | Path, name: str) -> DatasetIndex | None:
    """The newest index of dataset `name` in `store`, or None (no such dataset, or no store yet)."""
    store = Path(store)
    if not is_store(store):
        return None
    features = FeatureStore(store)
    return features.dataset(name) if name in features.datasets() else None


def _known(store: Path) -> str:
    return ", ".join(FeatureStore(store).datasets()) if is_store(store) else "none (no store yet)"


def dataset_options(store: str | Path, name: str | None = None, data: str | Path | None = None,
                    **changes) -> tuple[Path, DataOptions]:
    """The data folder and DataOptions of a run, as `extract run` takes its flags: for a dataset the
    store holds (by `name`, else by the data folder's name), its recorded folder (unless `data` names
    one) and options with `changes` applied; for a new dataset, `data` and the defaults with `changes`.

    Parameters
    ----------
    store : str or Path
        The feature store.
    name : str, optional
        The dataset's name (default: the data folder's name).
    data : str or Path, optional
        The data folder (default: the one recorded for dataset `name`).
    **changes
        DataOptions fields to change (layout, val_fraction, labels...).

    Returns
    -------
    tuple of (Path, DataOptions)
        The folder to read and how.

    Raises
    ------
    ExtractError
        When neither is given, or the dataset is unknown or its folder is gone.
    """
    store = Path(store)
    if data is None:
        if name is None:
            raise OptionError(f"Give the data folder (--data) or the name of a dataset of the store to read again "
                              f"(--dataset). Known datasets: {_known(store)}")
        previous = recorded_dataset(store, name)
        if previous is None:
            raise OptionError(f"No dataset {name!r} in store {store} to read again: give its data folder (--data). "
                              f"Known datasets: {_known(store)}")
        root = Path(previous.data_root)
        if not root.is_dir():
            raise OptionError(f"Dataset {name!r} was read from {root}, which is not a folder any more: give its "
                              f"data folder (--data). Received: --dataset {name}")
    else:
        root = Path(data)
        previous = recorded_dataset(store, name if name is not None else default_dataset_name(root))
    base = DataOptions.from_record(previous.source) if previous is not None else DataOptions()
    named = name if name is not None else previous.name if previous is not None else None
    return root, DataOptions.from_kwargs(base, {**changes, "name": named})


def plan_dataset(data: str | Path | None, store: str | Path, options: DataOptions | None) -> DatasetPlan:
    """What run_extraction reads. `options` None: the recorded options of the dataset named after the
    data folder (the defaults for a new one). `data` None: the recorded folder of dataset
    `options.name`, read as recorded, except for the fields `options` sets to other than their defaults."""
    if options is None:
        root, options = dataset_options(store, data=data)
    elif data is None:
        defaults = DataOptions()
        changes = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
                   if f.name != "name" and getattr(options, f.name) != getattr(defaults, f.name)}
        root, options = dataset_options(store, options.name, None, **changes)
    else:
        root = Path(data)
    if not root.is_dir():
        raise OptionError(f"Data folder not found. Received: --data {root}")
    options.checked(root)  # a bad option refused now, before weights are resolved or anything is read
    name = options.name if options.name is not None else default_dataset_name(root)
    return DatasetPlan(root, options, recorded_dataset(store, name))


def checked_data(data: str | Path | DatasetIndex | None, store: str | Path, options) -> DatasetPlan | None:
    """The dataset a run reads, its folder and data options checked: done before any weights are resolved or
    downloaded, so a typo in --data is said at once.

    Parameters
    ----------
    data, store, options
        As run_extraction takes them.

    Returns
    -------
    DatasetPlan or None
        The plan of the folder to scan; None for a DatasetIndex (its rows are read as indexed).
    """
    return None if isinstance(data, DatasetIndex) else plan_dataset(data, store, options.data)


def scan_of(data: DatasetPlan | DatasetIndex, rules: ReadRules | None = None) -> Scan:
    """The files to extract: a data folder scanned as planned (read by `rules`), or the rows of a dataset
    the store already indexes (its files under its data_root, as they were indexed: no new scan)."""
    if isinstance(data, DatasetPlan):
        return scan_dataset(data.root, data.options, rules=rules)
    entries = [ScanEntry(path, int(label), split, digest, None, reason, source) for path, label, split, digest, reason,
               source in zip(data.paths, data.labels, data.splits, data.hashes, data.reasons, data.split_sources)]
    return Scan(root=Path(data.data_root), layout=data.source.get("layout", "index"), classes=list(data.classes),
                entries=entries, name=data.name, source={**data.source, "indexed": True})


def read_rules(plan: DatasetPlan | None, store: str | Path, max_image_mb: float, rehash: bool) -> ReadRules:
    """The size limit, and the dataset's recorded file versions unless `rehash` (none for a new dataset)."""
    known = None
    if plan is not None and not rehash:
        name = check_dataset_name(plan.options.name or default_dataset_name(plan.root))
        known = read_stat_cache(StoreLayout(Path(store)).dataset_dir(name), str(plan.root.resolve()))
    return ReadRules(max_image_mb=max_image_mb, rehash=rehash, known=known)


def record_versions(layout: StoreLayout, name: str, scan: Scan) -> None:
    """Record the file versions the scan read (the next run reads only what changed; nothing to do when
    every file was known), then release them. A store that cannot be written to only loses the shortcut."""
    reading = scan.reading
    if reading is None:
        return
    try:
        if reading.read or reading.known != len(reading.version_hashes):
            write_stat_cache(layout.dataset_dir(name), str(scan.root), reading.scanned_ns, reading.versions,
                             reading.version_hashes, reading.version_kinds)
    except OSError:
        pass
    reading.release_versions()  # recorded: not kept through the rest of the run


def change_note(previous: DatasetIndex | None, index: DatasetIndex) -> str | None:
    """One line when a run read dataset `index.name` otherwise than its previous index (other options,
    another folder) or found other rows: what differs. None when nothing changed."""
    if previous is None:
        return None
    what = DataOptions.from_record(previous.source).differences(DataOptions.from_record(index.source))
    if previous.data_root != index.data_root:
        what.append(f"data folder {previous.data_root} -> {index.data_root}")
    same_rows = previous.digest() == index.digest()
    if not what and same_rows:
        return None
    if not what:
        old, new = set(_usable_hashes(previous)), set(_usable_hashes(index))
        added, removed = len(new - old), len(old - new)
        what.append(f"files: {added} new, {removed} gone" if added or removed else "labels or splits of files")
    rows = "the same rows" if same_rows else "heads fitted on the earlier one say what changed for them (heads eval)"
    return f"Dataset {index.name!r}: a new index version ({'; '.join(what)}); {rows}."


def _usable_hashes(index: DatasetIndex) -> list[str]:
    return [h for h, ok in zip(index.hashes, index.usable) if ok]
