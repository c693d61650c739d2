"""What `heads finetune` trains on: cached activations at the cut (with K fixed augmented views of
each train image), or the decoded images themselves (augmented online by the model).

Both end as arrays in memory and one batch sequence: the cost of an epoch is then the
network's alone, so the two paths are compared on what differs between them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from heads.errors import HeadError

TRAIN, VALIDATION = "train", "validation"


@dataclass
class TrainingData:
    """Train rows as K versions each (views, or K=1 for images), plain train rows, validation rows."""

    train_x: np.ndarray  # (K, N, *shape)
    train_labels: np.ndarray  # store label ids
    plain_train_x: np.ndarray  # (N, *shape): the train split without augmentation, for scoring
    val_x: np.ndarray
    val_labels: np.ndarray
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of unusable files
    extraction: dict = field(default_factory=dict)  # cached path: configurations and seconds

    @property
    def sizes(self) -> dict[str, int]:
        return {TRAIN: int(len(self.train_labels)), VALIDATION: int(len(self.val_labels))}


def check_scan(scan, record: dict) -> dict[str, int]:
    """Refuse data whose classes differ from the head's or that lacks train/validation; split counts."""
    if list(scan.classes) != list(record["class_names"]):
        raise HeadError(f"The data's classes differ from the head's: {scan.root} has {', '.join(scan.classes)}; "
                        f"head {record['head_id']} was trained on {', '.join(record['class_names'])}.")
    counts: dict[str, int] = {}
    for entry in scan.entries:
        if not entry.reason:
            counts[entry.split] = counts.get(entry.split, 0) + 1
    missing = [s for s in (TRAIN, VALIDATION) if not counts.get(s)]
    if missing:
        raise HeadError(f"Fine-tuning trains on the {TRAIN} split and stops early on the {VALIDATION} split; "
                        f"{scan.root} has no usable images in {', '.join(missing)}. "
                        f"Splits found: {', '.join(sorted(counts)) or 'none'}")
    unknown = sorted({scan.classes[e.label] for e in scan.entries
                      if not e.reason and e.split == TRAIN and e.label not in record["classes"]})
    if unknown:
        raise HeadError(f"Head {record['head_id']} cannot predict classes {', '.join(unknown)} (no train "
                        f"features of them when it was fitted); fine-tuning would not train them.")
    return counts


def check_memory(need_bytes: float, limit_mb: float, what: str) -> None:
    need_mb = need_bytes / 2**20
    if need_mb > limit_mb:
        raise HeadError(f"Fine-tuning holds {what} in memory: about {need_mb:.0f} MB, over the memory limit of "
                        f"{limit_mb:.0f} MB. Raise --memory-limit, or use fewer --views.")


def cached_data(store: Path, plain_id: str, view_ids: list[str]) -> TrainingData:
    """Cut activations of a store: the plain configuration's splits, and the train rows of each view."""
    from store import FeatureStore

    features = FeatureStore(store)
    plain = features.view(plain_id)
    train, validation = plain.read(TRAIN), plain.read(VALIDATION)
    views = [features.view(i) for i in view_ids]
    keep = [i for i, h in enumerate(train.hashes) if all(h in v.catalog.rows for v in views)]
    hashes = [train.hashes[i] for i in keep]
    stacked = np.empty((len(views), len(hashes), *plain.config.feature_shape), dtype=plain.config.dtype)
    for k, view in enumerate(views):
        stacked[k] = view.features_for(hashes)
    rejected = plain.rejected()
    return TrainingData(stacked, train.labels[keep], train.features[keep], validation.features,
                        validation.labels, rejected)


def decode_resized(paths: list[str], size: int, resize: str, batch_size: int,
                   on_progress: Callable[[int], None] | None = None):
    """(images, content hashes, reasons) of files decoded and resized exactly as `extract run` does."""
    from extract.pipeline import image_batches

    images = np.zeros((len(paths), size, size, 3), np.float32)
    digests, reasons = [""] * len(paths), [""] * len(paths)
    for batch, positions, hashes, why in image_batches(paths, size, resize, batch_size):
        batch = batch.numpy()
        for row, position in enumerate(positions.numpy()):
            digests[position], reasons[position] = hashes[row].numpy().decode(), why[row].numpy().decode()
            images[position] = batch[row]
        if on_progress:
            on_progress(len(batch))
    return images, digests, reasons


def image_data(scan, size: int, resize: str, batch_size: int = 32,
               on_progress: Callable[[int], None] | None = None) -> TrainingData:
    """The train and validation images decoded and resized once (exactly as `extract run` does)."""
    arrays, labels, rejected = {}, {}, []
    for split in (TRAIN, VALIDATION):
        entries = [e for e in scan.entries if e.split == split and not e.reason]
        rejected += [(e.path, e.reason) for e in scan.entries if e.split == split and e.reason]
        images, _, reasons = decode_resized([str(scan.root / e.path) for e in entries], size, resize, batch_size,
                                            on_progress)
        rejected += [(e.path, reason) for e, reason in zip(entries, reasons) if reason]
        ok = np.array([not reason for reason in reasons], bool)
        arrays[split] = images[ok]
        labels[split] = np.array([e.label for e in entries], np.int64)[ok]
    return TrainingData(arrays[TRAIN][None], labels[TRAIN], arrays[TRAIN], arrays[VALIDATION],
                        labels[VALIDATION], rejected)


def encode_targets(labels: np.ndarray, classes) -> np.ndarray:
    """Store label ids -> what the head's output is trained against (as heads.kinds.dense does)."""
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
    (Epoch e using view e mod K would also see each view; it puts one transform draw per
    image into whole epochs and gains nothing.)
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
