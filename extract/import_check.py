"""`extract merge --from --check`: an imported shard's features recomputed for a sample of its images.

A store from elsewhere is untrusted input: its markers prove only that its files are what its writer
signed, not that a feature row belongs to the image whose content hash keys it. So, for a random sample
of each imported shard's new rows, the image is found on disk (through the dataset and slice indexes of
both stores), its bytes are hashed again (it must still be the image the row is keyed on) and its
features are computed here with the configuration's own weights. A row that disagrees beyond the
runtimes' tolerance refuses the whole shard. What could not be checked (no image on disk any more, or
its content changed) is counted and said, never silently passed as checked.

The sample is drawn from the operating system's entropy: a writer that cannot predict which rows are
looked at cannot make only those honest.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from extract.errors import OptionError
from extract.runtimes.onnx import TOLERANCE
from extract.sources.reading import hash_image_file
from store.config import ExtractorConfig
from store.datasets import DatasetIndex, dataset_names, latest_dataset
from store.errors import StoreError
from store.layout import StoreLayout
from store.partials import partial_files, read_partial

DEFAULT_CHECK = 4  # images per imported shard


def parse_check(value: str | int | None) -> int | None:
    """`--check N` (a count per shard, 0 = trust) or `all` (None: every row)."""
    if value is None or str(value).strip().lower() == "all":
        return None
    try:
        count = int(str(value))
    except ValueError:
        count = -1
    if count < 0:
        raise OptionError(f"--check takes a number of images per shard (0 trusts the imports) or 'all'. "
                          f"Received: {value!r}")
    return count


def tolerance(config: ExtractorConfig) -> float:
    """The runtimes' agreement bound, widened by one step of the storage dtype (both sides are rounded
    through it, so a value on a rounding edge may land one step apart)."""
    return TOLERANCE + float(np.finfo(np.dtype(config.dtype)).eps)


def _gap(stored: np.ndarray, computed: np.ndarray) -> float:
    """max |stored - computed| / max |computed| (the runtimes' measure, scaled by the honest side)."""
    worst, scale = float(np.abs(stored - computed).max()), float(np.abs(computed).max())
    return worst / scale if scale > 0 else (0.0 if worst == 0 else float("inf"))


@dataclass
class ImportCheck:
    """What the checks of one merge found, over every imported shard."""

    per_shard: int | None  # None: every row
    checked: int = 0  # rows recomputed and found equal
    unavailable: int = 0  # sampled rows with no image on disk (or one whose content changed)
    unavailable_example: str = ""
    unchecked_shards: int = 0  # shards with no image on disk at all: imported on trust
    refused: list[tuple[str, str]] = field(default_factory=list)  # (shard, one line)
    _locations: list | None = field(default=None, repr=False)  # (index, sorted hashes, their rows)
    _extractors: dict = field(default_factory=dict, repr=False)

    def locate_from(self, layouts: list[StoreLayout]) -> None:
        """Where images can be found: the latest index of every dataset and every slice index of these
        stores, each kept as its hashes sorted once (a lookup is a binary search, not a dict of a
        million paths)."""
        indexes: list[DatasetIndex] = []
        for layout in layouts:
            indexes += [latest_dataset(layout, name) for name in dataset_names(layout)]
            configs = layout.configs_dir
            for config_dir in sorted(configs.iterdir()) if configs.is_dir() else []:
                indexes += [read_partial(p).rows for p in partial_files(layout, config_dir.name)]
        self._locations = []
        for index in filter(None, indexes):
            keys = np.asarray(index.hashes, dtype="S64")
            order = np.argsort(keys, kind="stable")
            self._locations.append((index, keys[order], order))

    def __call__(self, config: ExtractorConfig, shard: Path, hashes: list[str], features: np.ndarray) -> bool:
        """Check a sample of one shard's rows; False (and a line in `refused`) when it must not be imported."""
        if self.per_shard == 0 or not hashes:
            return True
        wanted = len(hashes) if self.per_shard is None else min(self.per_shard, len(hashes))
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
        picked: list[tuple[int, Path]] = []
        for row in rng.permutation(len(hashes)).tolist():  # random rows until enough have an image on disk
            path = self._on_disk(hashes[row])
            if path is not None:
                picked.append((row, path))
                if len(picked) == wanted:
                    break
        if not picked:
            self.unchecked_shards += 1
            self._missing(wanted, f"the images of {shard.name}")
            return True
        self._missing(wanted - len(picked), f"images of {shard.name}")
        # Hashed first by the data folder's rules (regular file, size limit, sniffed): only the images
        # that are still what their row is keyed on are decoded.
        still = [(row, path) for row, path in picked if hash_image_file(path)[0] == hashes[row]]
        if len(still) < len(picked):
            changed = next(str(path) for row, path in picked if (row, path) not in still)
            self._missing(len(picked) - len(still), f"{changed} (content changed)")
        if not still:
            return True
        got, digests, reasons = self._extractor(config).features_of_files([str(p) for _, p in still])
        same = [k for k, ((row, _), digest, reason) in enumerate(zip(still, digests, reasons))
                if not reason and digest == hashes[row]]
        self._missing(len(still) - len(same), f"{still[0][1]} (unreadable)")
        if not same:
            return True
        rows = [still[k][0] for k in same]
        stored = np.asarray(features[rows], np.float32)
        gap = max(_gap(stored[j], got[k]) for j, k in enumerate(same))
        bound = tolerance(config)
        if not gap <= bound:
            self.refused.append((str(shard), f"Imported shard {shard} refused: the features it holds for "
                                 f"{len(same)} checked images (e.g. {still[same[0]][1]}) differ from the images' "
                                 f"own by up to {gap:.3g} of their scale (allowed {bound:.1e})."))
            return False
        self.checked += len(same)
        return True

    def _on_disk(self, digest: str) -> Path | None:
        """A regular file that an index lists for this content (its content is hashed again later)."""
        key = digest.encode()
        for index, keys, order in self._locations or []:
            at = int(np.searchsorted(keys, key))
            while at < len(keys) and keys[at] == key:
                row = int(order[at])
                at += 1
                if index.reasons[row]:
                    continue
                try:
                    path = index.absolute(row)  # confined to the index's data root
                except (StoreError, ValueError):
                    continue  # a path escaping its root is never read
                if path.is_file():  # a FIFO or device is not
                    return path
        return None

    def _missing(self, count: int, example: str) -> None:
        if count > 0:
            self.unavailable += count
            self.unavailable_example = self.unavailable_example or example

    def _extractor(self, config: ExtractorConfig):
        from extract.extractor import Extractor  # TensorFlow only when a shard is checked

        if config.config_id not in self._extractors:
            try:
                self._extractors[config.config_id] = Extractor.from_config(config)
            except ValueError as error:
                raise StoreError(f"Cannot check the imports of configuration {config.config_id} ({error}); "
                                 f"give --check 0 to import them on trust.") from None
        return self._extractors[config.config_id]

    def summary(self) -> list[str]:
        """One line per thing the user must know: what was trusted, checked, or could not be checked."""
        if self.per_shard == 0:
            return ["--check 0: imported shards trusted as signed (no features recomputed)."]
        lines = []
        if self.checked:
            lines.append(f"Checked {self.checked} imported rows against their images: they agree.")
        if self.unavailable:
            lines.append(f"{self.unavailable} sampled rows could not be checked (no image on disk, or its "
                         f"content changed; {self.unchecked_shards} shards imported unchecked), e.g. "
                         f"{self.unavailable_example}.")
        return lines


def merge_checked(store: str | Path, sources: list[str | Path] = (), check: str | int | None = DEFAULT_CHECK):
    """`extract merge`: store.merge.merge_store with each imported shard checked (see the module docstring).

    Parameters
    ----------
    store : str or Path
        The store merged into.
    sources : list of str or Path
        Other stores whose shards are imported.
    check : int, str or None
        Images recomputed per imported shard: a count, 0 (trust the imports, said in the summary) or
        ``"all"``/None (every new row).

    Returns
    -------
    (store.merge.MergeReport, ImportCheck)
        What was merged, and what the checks found (`summary()` lines, `refused` shards).
    """
    from store.merge import merge_store

    checker = ImportCheck(parse_check(check))
    if sources and checker.per_shard != 0:
        checker.locate_from([StoreLayout(Path(store)), *(StoreLayout(Path(s)) for s in sources)])
    report = merge_store(store, list(sources), checker if sources else None)
    return report, checker
