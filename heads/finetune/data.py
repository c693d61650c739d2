"""What `heads finetune` trains on: cached activations at the cut (with K fixed augmented views of
each train image), or the decoded images themselves (augmented online by the model).

The rows are the starting head's own (heads.binding: its split record, classes by name). A
share of the train rows is held out to stop early on (as `heads fit` does), so the
validation split is only scored, never used to choose the epoch.
Both paths end as arrays in memory and one batch sequence: the cost of an epoch is then the
network's alone, so the two paths are compared on what differs between them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from heads.binding import SplitRows
from heads.errors import HeadError


@dataclass
class Split:
    """One split's inputs (activations at the cut, or resized images) and labels (head class ids)."""

    x: np.ndarray
    labels: np.ndarray
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TrainingData:
    train_views: np.ndarray  # (K, N, *shape): K versions of each train row (views, or K=1 for images)
    train: Split  # the train rows without augmentation (scored)
    holdout: Split | None  # train rows held out to stop early on (never trained on)
    scored: dict[str, Split]  # the other splits: scored after training, never used to choose
    notes: list[str] = field(default_factory=list)
    extraction: dict = field(default_factory=dict)  # cached path: configurations and seconds

    @property
    def sizes(self) -> dict[str, int]:
        sizes = {"train": len(self.train), **{name: len(split) for name, split in self.scored.items()}}
        if self.holdout is not None:
            sizes["holdout"] = len(self.holdout)
        return sizes


def holdout_split(rows: SplitRows, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, held-out positions), stratified by class where every class has 2 rows."""
    positions = np.arange(len(rows))
    n_hold = max(1, int(round(len(rows) * fraction)))
    counts = np.unique(rows.labels, return_counts=True)[1]
    if len(rows) - n_hold < len(counts):
        raise HeadError(f"Too few train rows ({len(rows)}) to hold out {fraction:.0%} for early stopping; "
                        f"use --patience 0 or --stop-on validation.")
    stratify = rows.labels if counts.min() >= 2 and n_hold >= len(counts) else None
    train, hold = train_test_split(positions, test_size=n_hold, stratify=stratify, random_state=seed)
    return np.sort(train), np.sort(hold)


def check_memory(need_bytes: float, limit_mb: float, what: str) -> None:
    need_mb = need_bytes / 2**20
    if need_mb > limit_mb:
        raise HeadError(f"Fine-tuning holds {what} in memory: about {need_mb:.0f} MB, over the memory limit of "
                        f"{limit_mb:.0f} MB. Raise --memory-limit, or use fewer --views.")


def cached_data(plain, views: list, train: SplitRows, scored: dict[str, SplitRows], hold: np.ndarray | None
                ) -> TrainingData:
    """Cut activations from the store: the plain configuration's rows, and each view's train rows."""
    keep = np.array([all(h in v.catalog.rows for v in views) for h in train.hashes], dtype=bool)
    notes = [] if keep.all() else [f"{int((~keep).sum())} train rows lack an augmented view: not trained on."]
    fit_positions = np.flatnonzero(keep) if hold is None else np.setdiff1d(np.flatnonzero(keep), hold)
    fit_hashes = [train.hashes[i] for i in fit_positions]
    stacked = np.empty((len(views), len(fit_hashes), *plain.config.feature_shape), dtype=plain.config.dtype)
    for k, view in enumerate(views):
        stacked[k] = view.features_for(fit_hashes)

    def split(rows: SplitRows, positions=None) -> Split:
        positions = np.arange(len(rows)) if positions is None else positions
        hashes = [rows.hashes[i] for i in positions]
        return Split(plain.features_for(hashes), rows.labels[positions], hashes)

    return TrainingData(stacked, split(train, fit_positions), None if hold is None else split(train, hold),
                        {name: split(rows) for name, rows in scored.items()}, notes)


def image_data(extractor, root: Path, train: SplitRows, scored: dict[str, SplitRows], hold: np.ndarray | None,
               batch_size: int = 32, on_progress=None) -> TrainingData:
    """The rows' images decoded and resized once (exactly as `extract run` does)."""
    notes: list[str] = []

    def split(rows: SplitRows, positions=None) -> Split:
        positions = np.arange(len(rows)) if positions is None else positions
        images, _, reasons = extractor.load_images([str(root / rows.paths[i]) for i in positions], batch_size,
                                                   on_progress)
        ok = np.array([not reason for reason in reasons], bool)
        if not ok.all():
            notes.append(f"{int((~ok).sum())} images of {rows.split} could not be decoded: left out.")
        return Split(images[ok], rows.labels[positions][ok], [rows.hashes[i] for i, good in zip(positions, ok) if good])

    fit = split(train, None if hold is None else np.setdiff1d(np.arange(len(train)), hold))
    return TrainingData(fit.x[None], fit, None if hold is None else split(train, hold),
                        {name: split(rows) for name, rows in scored.items()}, notes)


def encode_targets(labels: np.ndarray, classes) -> np.ndarray:
    """Head class ids -> what the head's output is trained against (as heads.kinds.dense does)."""
    classes = np.asarray(classes)
    encoded = np.searchsorted(classes, labels)
    return encoded.astype(np.float32).reshape(-1, 1) if len(classes) == 2 else encoded.astype(np.int32)


def _py_dataset_base():
    import keras

    return keras.utils.PyDataset


def view_batches(train_x: np.ndarray, targets: np.ndarray, batch_size: int, seed: int):
    """Batches over the train rows, one version of each row per epoch.

    Every epoch reshuffles the rows and draws, for each row, one of its K views at random,
    seeded by (seed, epoch): batches mix transforms as online augmentation does, an epoch
    has as many steps as the full path's, and a seed gives the same sequence every time.
    """

    class ViewBatches(_py_dataset_base()):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self._draw()

        def _draw(self):
            rng = np.random.default_rng([seed, self.epoch])
            self.order = rng.permutation(train_x.shape[1])
            self.choice = rng.integers(0, train_x.shape[0], train_x.shape[1])

        def __len__(self):
            return math.ceil(train_x.shape[1] / batch_size)

        def __getitem__(self, index):
            rows = self.order[index * batch_size:(index + 1) * batch_size]
            return train_x[self.choice[rows], rows].astype(np.float32), targets[rows]

        def on_epoch_end(self):
            self.epoch += 1
            self._draw()

    return ViewBatches()
