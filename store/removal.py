"""Removing a configuration or a dataset from a store (`extract rm`), whole or not at all.

What depends on the thing removed is said first, and the removal refused unless forced: the heads
that read a configuration (head.json's `inputs`), or were fitted on a dataset (`data.dataset`),
and slices of a dataset that await `extract merge`. A configuration goes with its views (the same
configuration under a test-time or augmentation view: nothing reads them without it). Each folder
is removed as one step (store.atomic.remove_folder), a configuration under its exclusive writer
lock, so a run writing it is never cut short and no reader ever sees half a record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from store import atomic
from store.datasets import check_dataset_name
from store.errors import StoreError
from store.layout import StoreLayout
from store.lock import writer_lock
from store.resolve import is_view_of
from store.reader import FeatureStore

HEADS_FOLDER = "heads"  # STORE/heads/<head id>/head.json (the heads package writes them)


@dataclass
class Removal:
    """What `extract rm` removed.

    Attributes
    ----------
    removed : list of str
        One line per configuration or dataset removed (its name, and its id for a configuration).
    bytes : int
        Bytes freed on disk.
    dependents : list of str
        What depended on it and was left as it is (only with `force`): head ids, slices.
    """

    removed: list[str] = field(default_factory=list)
    bytes: int = 0
    dependents: list[str] = field(default_factory=list)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def head_records(layout: StoreLayout) -> list[tuple[str, set[str], str]]:
    """What every published head of the store reads, from its head.json (read as plain JSON).

    Parameters
    ----------
    layout : StoreLayout
        The store.

    Returns
    -------
    list of (str, set of str, str)
        (head id, ids of the configurations it reads, the dataset it was fitted on) per head; a head whose record
        does not read as one has nothing it reads (it cannot be told to depend).
    """
    root = layout.root / HEADS_FOLDER
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        record_file = folder / "head.json"
        if folder.name.startswith(".") or not record_file.is_file():
            continue
        try:
            record = atomic.read_json(record_file)
            ids = {str(c["config_id"]) for c in record.get("inputs", [])}
            dataset = str(record.get("data", {}).get("dataset", ""))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            ids, dataset = set(), ""
        found.append((folder.name, ids, dataset))
    return found


def _refuse_or_note(what: str, dependents: list[str], force: bool, received: str) -> list[str]:
    if dependents and not force:
        shown = ", ".join(dependents[:5]) + (f" and {len(dependents) - 5} more" if len(dependents) > 5 else "")
        verb = "depends" if len(dependents) == 1 else "depend"
        raise StoreError(f"Refusing to remove {what}: {shown} {verb} on it (remove what depends first, e.g. "
                         f"`heads rm`, or give --force to leave it without). Received: {received}")
    return dependents


def remove_configs(store: str | Path, selectors: Sequence[str], force: bool = False) -> Removal:
    """Remove configurations (each with its views) and their features.

    Parameters
    ----------
    store : str or Path
        The feature store.
    selectors : sequence of str
        Configurations by id, readable name, partial name or id prefix (store.names); a view may be named.
    force : bool
        Remove even what heads read (they then refuse to run on this store).

    Returns
    -------
    Removal
        What was removed, the bytes freed, and (with force) what depended on it.

    Raises
    ------
    StoreError
        An unknown or ambiguous selector, or a configuration something depends on (without force): nothing
        is removed then.
    """
    features = FeatureStore(store)
    names = features.names()
    chosen = names.resolve_all(list(selectors), views=True, where=f"Store {features.layout.root}")
    wanted = chosen + [v for c in chosen for v in names.configs if is_view_of(v, c)]
    doomed = list({c.config_id: c for c in wanted}.values())  # each once, in order (configurations hold dicts)
    ids = {c.config_id for c in doomed}
    dependents = [head for head, reads, _ in head_records(features.layout) if reads & ids]
    received = "--config " + " --config ".join(selectors)
    left = _refuse_or_note(", ".join(names.name(c) for c in doomed), dependents, force, received)
    removal = Removal(dependents=left)
    layout = features.layout
    for config in doomed:
        folder = layout.config_dir(config.config_id)
        size = _folder_bytes(folder)
        with writer_lock(layout.lock_file(config.config_id)):  # refused while a run writes it
            atomic.remove_folder(folder)
        removal.removed.append(f"configuration {names.name(config)} ({config.config_id})")
        removal.bytes += size
    atomic.clean_stale(layout.configs_dir)  # a removal killed earlier, mid-deletion
    return removal


def remove_dataset(store: str | Path, name: str, force: bool = False) -> Removal:
    """Remove a dataset's indexes (every version). Features stay: they are keyed by content and shared.

    Parameters
    ----------
    store : str or Path
        The feature store.
    name : str
        The dataset's name (`extract ls` lists them).
    force : bool
        Remove even a dataset heads were fitted on, or whose slices await `extract merge`.

    Returns
    -------
    Removal
        What was removed, the bytes freed, and (with force) what depended on it.
    """
    features = FeatureStore(store)
    layout = features.layout
    if check_dataset_name(name) not in features.datasets():
        raise StoreError(f"No dataset {name!r} in the store. Known: {', '.join(features.datasets()) or 'none'}")
    if features.version == 1:
        raise StoreError(f"Store {layout.root} is of version 1: any `extract run` upgrades it, then its datasets "
                         f"can be removed. Received: --dataset {name}")
    dependents = [head for head, _, dataset in head_records(layout) if dataset == name]
    dependents += [f"slices of configuration {features.names().name(c)} awaiting `extract merge`"
                   for c in features.configs() if layout.partial_dir(c.config_id, name).is_dir()
                   and any(layout.partial_dir(c.config_id, name).iterdir())]
    left = _refuse_or_note(f"dataset {name!r}", dependents, force, f"--dataset {name}")
    folder = layout.dataset_dir(name)
    size = _folder_bytes(folder)
    atomic.remove_folder(folder)
    atomic.clean_stale(layout.datasets_dir)
    return Removal([f"dataset {name}"], size, left)
