"""The read API later stages use: configurations, datasets, and views of one joined with the other."""
from __future__ import annotations

from pathlib import Path

from store import atomic, legacy
from store.config import ExtractorConfig
from store.datasets import (PREDICTED_DATASET, DatasetIndex, check_dataset_name, dataset_names, latest_dataset,
                            newest_name)
from store.errors import StoreError
from store.layout import FORMAT_NAME, FORMAT_VERSION, READABLE_VERSIONS, StoreLayout
from store.resolve import ConfigNames
from store.view import ConfigView, SplitData

__all__ = ["ConfigView", "FeatureStore", "SplitData", "StoreError", "init_store", "is_store"]


def is_store(path: Path) -> bool:
    """Whether a folder is a feature store (holds its store.json marker).

    Parameters
    ----------
    path : str or Path
        The folder.

    Returns
    -------
    bool
    """
    return StoreLayout(Path(path)).marker.is_file()


def init_store(path: str | Path) -> StoreLayout:
    """Create the store folder, or check an existing one is a store; the first writer of a
    version-1 store upgrades it, and every writer clears dead creators' temporaries.

    Parameters
    ----------
    path : str or Path
        The store folder (made when missing or empty).

    Returns
    -------
    StoreLayout
        Where each file of the store lives.

    Raises
    ------
    StoreError
        When the path exists and is not a store, or its format is not one this version reads.
    """
    layout = StoreLayout(Path(path))
    if not layout.marker.is_file() and _free_for_a_store(layout):
        layout.root.mkdir(parents=True, exist_ok=True)
        # Creators racing here (`--shard i/n` slices started together) each publish the same marker.
        atomic.write_json(layout.marker, {"format": FORMAT_NAME, "version": FORMAT_VERSION})
    if not layout.marker.is_file():
        raise StoreError(f"Path exists and is not a feature store (no store.json). Received: {layout.root}")
    store = FeatureStore(layout.root)  # validates format
    atomic.clean_stale(layout.root)
    if store.version < FORMAT_VERSION:
        legacy.upgrade(layout)
    return layout


def _free_for_a_store(layout: StoreLayout) -> bool:
    """Missing, or a folder holding nothing but temporaries of store.json (another creator's,
    in flight or dead); the folder itself is kept, so a mount point or a symlink works."""
    root = layout.root
    if not root.exists():
        return True
    return root.is_dir() and all(atomic.is_temporary_of(entry, layout.marker) for entry in root.iterdir())


class FeatureStore:
    """A feature store opened for reading: its configurations, datasets and aligned views.

    Parameters
    ----------
    path : str or Path
        The store folder (made by `init_store` or `extract run`).

    Raises
    ------
    StoreError
        When the folder is not a store, or its format is not one this version reads.

    Examples
    --------
    >>> store = FeatureStore("cache")                          # doctest: +SKIP
    >>> store.view("mobilenet_v2@224").read("validation")      # doctest: +SKIP
    """
    def __init__(self, path: str | Path):
        self.layout = StoreLayout(Path(path))
        if not self.layout.marker.is_file():
            raise StoreError(f"Not a feature store (no store.json). Received: {self.layout.root}")
        header = atomic.read_json(self.layout.marker)
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME \
                or header.get("version") not in READABLE_VERSIONS:
            header = header if isinstance(header, dict) else {}
            raise StoreError(
                f"Unsupported store format {header.get('format')!r} version {header.get('version')!r}; "
                f"this version reads {FORMAT_NAME!r} versions {', '.join(map(str, READABLE_VERSIONS))}."
            )
        self.version: int = header["version"]
        self._legacy: dict[str, DatasetIndex] | None = None

    def configs(self) -> list[ExtractorConfig]:
        """Every configuration recorded in the store (views included), in id order."""
        if not self.layout.configs_dir.is_dir():
            return []
        found = []
        for config_dir in sorted(self.layout.configs_dir.iterdir()):
            config_file = config_dir / "config.json"
            if config_dir.name.startswith("."):
                continue  # a configuration being removed (staged out under a hidden name: extract rm)
            if config_file.is_file():
                config = ExtractorConfig.from_json(atomic.read_json(config_file))
                if config.config_id != config_dir.name:
                    raise StoreError(f"Configuration folder {config_dir.name} holds {config.config_id}.")
                found.append(config)
        return found

    def names(self) -> ConfigNames:
        """The readable names of this store's configurations, and `--config` resolution (store.names)."""
        return ConfigNames(self.configs())

    def select(self, selector: str | None = None, views: bool = False) -> ExtractorConfig:
        """A configuration by id, readable name, partial name or id prefix; the only one (views aside) when None.

        Parameters
        ----------
        selector : str or None
            What `--config` received (see store.names).
        views : bool
            Whether a view (test-time or augmented) may be chosen by its id or name; when False, naming one is
            refused in one line saying which configuration to use instead.

        Returns
        -------
        ExtractorConfig
            The configuration chosen.
        """
        return self.names().resolve(selector, views=views, where=f"Store {self.layout.root}")

    # -- datasets -----------------------------------------------------------------------------
    def _legacy_indexes(self) -> dict[str, DatasetIndex]:
        if self._legacy is None:
            self._legacy = legacy.legacy_indexes(self.layout)
        return self._legacy

    def datasets(self) -> list[str]:
        """The names of the datasets indexed in this store."""
        if self.version == 1:
            return sorted({index.name for index in self._legacy_indexes().values()})
        return dataset_names(self.layout)

    def _newest(self, name: str) -> DatasetIndex:
        if self.version == 1:
            return max((ix for ix in self._legacy_indexes().values() if ix.name == name), key=lambda ix: ix.created)
        index = latest_dataset(self.layout, name)
        assert index is not None, name  # listed by datasets()
        return index

    def _newest_name(self) -> str:
        if self.version == 1:
            return max(self._legacy_indexes().values(), key=lambda ix: ix.created).name
        return newest_name(self.layout) or ""

    def dataset_choice(self, name: str | None = None) -> tuple[DatasetIndex, str | None]:
        """The dataset of that name, else the only one, else the newest with a one-line note saying so."""
        names = self.datasets()
        if name is not None:
            check_dataset_name(name)
            if name not in names:
                raise StoreError(f"No dataset {name!r} in the store. Known: {', '.join(names) or 'none yet'}")
            return self._newest(name), None
        names = [n for n in names if n != PREDICTED_DATASET]  # what heads predict kept: chosen only by name
        if not names:
            raise StoreError(f"The store holds no dataset index yet (no run has finished, or slices await "
                             f"`extract merge`). Received: {self.layout.root}")
        if len(names) == 1:
            return self._newest(names[0]), None
        chosen = self._newest_name()
        return self._newest(chosen), (f"{len(names)} datasets in the store ({', '.join(names)}); using the "
                                      f"newest, {chosen!r} (choose one by name with --dataset).")

    def dataset(self, name: str | None = None) -> DatasetIndex:
        return self.dataset_choice(name)[0]

    def view(self, config_selector: str | None = None, dataset: str | None = None) -> ConfigView:
        """A configuration's features joined with a dataset's newest index (see dataset_choice);
        the view's index is None while the store holds no dataset index. A view may be named (by id or name)."""
        names = self.names()
        config = names.resolve(config_selector, views=True, where=f"Store {self.layout.root}")
        name = names.name(config)
        if self.version == 1:  # a configuration's own run index first: a view's index held its splits only
            own = self._legacy_indexes().get(config.config_id)
            if own is not None and dataset in (None, own.name):
                return ConfigView(self.layout, config, own, name=name)
        if dataset is None and not self.datasets():
            return ConfigView(self.layout, config, None, name=name)
        index, note = self.dataset_choice(dataset)
        return ConfigView(self.layout, config, index, note, name=name)

    def views(self, config_selector: str | None = None, datasets: list[str] | None = None) -> list[ConfigView]:
        """A configuration joined with each dataset (all, or those named), sharing one shard catalog;
        a version-1 configuration is seen through its own run index only."""
        config_names = self.names()
        config = config_names.resolve(config_selector, views=True, where=f"Store {self.layout.root}")
        if self.version == 1 and datasets is None:
            view = self.view(config.config_id)
            return [view] if view.index is not None else []
        names = self.datasets() if datasets is None else datasets
        views: list[ConfigView] = []
        for name in names:
            index = self.dataset(name)
            views.append(ConfigView(self.layout, config, index, catalog=views[0].catalog if views else None,
                                    name=config_names.name(config)))
        return views
