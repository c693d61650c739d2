"""What `heads predict` keeps in the store: the features it computed for new images, so the next call on
the same images only reads them.

Each configuration the head reads gets a shard of those features (written as `extract run` writes one:
staged, then its commit marker), under the configuration's writer lock held shared, beside slices,
never beside a full run (which may delete uncommitted files). The images are indexed in a dataset of
their own, `heads-predict` (unlabelled rows, every path ever predicted, under the folder they share):
`extract ls` lists it, `extract rm --dataset heads-predict` removes it, and no command picks it
unless it is named. Keeping is best effort: a store that cannot be written now (read-only, a run
holding it) leaves the predictions as they are and says so in one line.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Sequence

import numpy as np

from store import DatasetIndex, ExtractorConfig
from store.datasets import PREDICTED_DATASET, latest_dataset, write_dataset
from store.layout import StoreLayout
from store.lock import StoreBusyError, writer_lock
from store.shards import ShardContent, write_shard

SPLIT = "unlabelled"


def keep_features(store: str | Path, configs: Sequence[ExtractorConfig], paths: Sequence[Path],
                  hashes: Sequence[str], reasons: Sequence[str], parts: Sequence[np.ndarray]) -> str:
    """Store computed features of new images and index the images; returns the line that says what was done.

    Parameters
    ----------
    store : str or Path
        The feature store holding every configuration in `configs`.
    configs : sequence of ExtractorConfig
        The configurations the features are of, in the order of `parts`.
    paths : sequence of Path
        The image files, one per row.
    hashes : sequence of str
        Each file's content hash ("" for a file that could not be read).
    reasons : sequence of str
        Why a file could not be used ("" for one that could): recorded so it is not tried again.
    parts : sequence of numpy.ndarray
        Per configuration, the features of every row (rows with a reason are ignored).

    Returns
    -------
    str
        One line: how many images were kept, or why none could be ("" when there was nothing to keep).
    """
    layout = StoreLayout(Path(store))
    usable = [i for i, (h, r) in enumerate(zip(hashes, reasons)) if h and not r
              and all(np.isfinite(part[i]).all() for part in parts)]
    rejected = [i for i, (h, r) in enumerate(zip(hashes, reasons)) if h and r]
    if not usable and not rejected:
        return ""
    try:
        for config, part in zip(configs, parts):
            content = ShardContent(hashes=[hashes[i] for i in usable],
                                   features=np.asarray(part[usable]).astype(config.dtype),
                                   rejected_hashes=[hashes[i] for i in rejected],
                                   rejected_reasons=[reasons[i] for i in rejected])
            with writer_lock(layout.lock_file(config.config_id), shared=True):
                write_shard(layout.shards_dir(config.config_id), config.config_id, content)
        write_dataset(layout, _index(layout, paths, hashes, reasons))
    except (OSError, StoreBusyError, ValueError, KeyError) as error:  # KeyError: a damaged index (h5py)
        return f"The features computed were not kept in {store} ({error}): the next call computes them again."
    return (f"{len(usable)} images' features kept in {store} (dataset {PREDICTED_DATASET}): the next call on them "
            f"reads them.")


def _index(layout: StoreLayout, paths: Sequence[Path], hashes: Sequence[str], reasons: Sequence[str]) -> DatasetIndex:
    """The previous index of the predicted images with these rows added (a path given again takes its new
    content), every path under the folder they all share."""
    rows: dict[str, tuple[str, str]] = {}
    previous = latest_dataset(layout, PREDICTED_DATASET) if layout.dataset_dir(PREDICTED_DATASET).is_dir() else None
    if previous is not None:
        for path, digest, reason in zip(previous.paths, previous.hashes, previous.reasons):
            rows[os.path.join(previous.data_root, *PurePath(path).parts)] = (digest, reason)
    for path, digest, reason in zip(paths, hashes, reasons):
        rows[os.path.abspath(path)] = (digest, reason or ("" if digest else "unreadable"))
    root = os.path.commonpath([os.path.dirname(p) for p in rows])
    ordered = sorted(rows)
    return DatasetIndex(
        name=PREDICTED_DATASET, data_root=root, classes=[], paths=[PurePath(os.path.relpath(p, root)).as_posix()
                                                                  for p in ordered],
        labels=np.full(len(ordered), -1, np.int32), splits=[SPLIT] * len(ordered),
        hashes=[rows[p][0] for p in ordered], reasons=[rows[p][1] for p in ordered],
        source={"layout": "predicted", "by": "heads predict"})
