"""Eval, predict and export for fine-tuned heads.

A fine-tuned head's base is no longer the base of its store configuration, so the store's
features of that configuration are stale for it and never used. What stays valid is below
the cut: the frozen part did not change, so activations the store holds at the cut (the
cached path's plain configuration) are reused, through the fine-tuned top; any other image
goes through the whole fine-tuned model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from heads import metrics as metrics_mod
from heads.artifact import KERAS_FILE
from heads.errors import HeadError
from heads.finetune_data import decode_resized
from store import FeatureStore, is_store

CHUNK = 64


class FineTunedHead:
    """The saved model (resized images -> raw output) and, lazily, its parts around the cut."""

    def __init__(self, folder: Path, record: dict):
        import keras

        model_file = Path(folder) / KERAS_FILE
        if not model_file.is_file():
            raise HeadError(f"Head folder has no model file {KERAS_FILE}. Received: {folder}")
        self.record = record
        self.model = keras.models.load_model(model_file, compile=False)
        self.classes_ = np.asarray(record["classes"])
        self._parts = None

    @property
    def parts(self):
        if self._parts is None:
            from heads.finetune_model import loaded_parts

            self._parts = loaded_parts(self.model, self.record)
        return self._parts

    @staticmethod
    def _run(model, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, *(int(d) for d in model.output.shape[1:])))
        return np.concatenate([np.asarray(model(np.asarray(x[i:i + CHUNK], np.float32), training=False))
                               for i in range(0, len(x), CHUNK)])

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for images resized to the configuration's size (RGB 0..255)."""
        from heads.finetune_model import probability_columns

        return probability_columns(self._run(self.model, images))

    def proba_from_cut(self, activations: np.ndarray) -> np.ndarray:
        from heads.finetune_model import probability_columns

        return probability_columns(self._run(self.parts[1], activations))

    def cut_activations(self, images: np.ndarray) -> np.ndarray:
        return self._run(self.parts[0], images)


def cut_view(loaded, store: str | Path | None):
    """The store view of the cut configuration (frozen activations), or None when the store lacks it."""
    explicit = store is not None
    store = Path(store) if explicit else Path(loaded.record["store"])
    if not is_store(store):
        if explicit:
            raise HeadError(f"Not a feature store (no store.json). Received: {store}")
        return None
    cut_id = loaded.record["finetune"].get("cut_config")
    if not cut_id or cut_id not in {c.config_id for c in FeatureStore(store).configs()}:
        return None
    view = FeatureStore(store).view(cut_id)
    if view.index is not None and list(view.class_names) != list(loaded.record["class_names"]):
        raise HeadError(f"Store {store} names the classes {', '.join(view.class_names)}; head "
                        f"{loaded.record['head_id']} has {', '.join(loaded.record['class_names'])}. Refusing.")
    return view


def index_view(loaded, store: str | Path | None):
    """The view of the starting head's configuration: only its index (files, labels, splits) is used."""
    store = Path(store) if store is not None else Path(loaded.record["store"])
    if not is_store(store) or loaded.config.config_id not in {c.config_id for c in FeatureStore(store).configs()}:
        return None
    return FeatureStore(store).view(loaded.config.config_id)


def resized_images(loaded, paths: list[str], batch_size: int, on_progress: Callable[[int], None] | None = None):
    """(images, content hashes, reasons) at the head's configuration's size and resize."""
    return decode_resized(paths, loaded.config.size, loaded.config.resize, batch_size, on_progress)


def eval_finetuned(loaded, split: str, store: str | Path | None) -> dict:
    """Metrics on one split: from stored cut activations when the store holds them, else from its images."""
    ft: FineTunedHead = loaded.estimator
    view = cut_view(loaded, store)
    if view is not None and view.index is not None and split in view.index.split_names():
        probas, labels = [], []
        for batch in view.iter_batches(split, 256):
            probas.append(ft.proba_from_cut(batch.features.astype(np.float32)))
            labels.append(batch.labels)
        proba, labels, source = np.concatenate(probas), np.concatenate(labels), f"activations at {view.config.layer}"
    else:
        images_view = index_view(loaded, store)
        if images_view is None or images_view.index is None:
            raise HeadError(f"Store {store or loaded.record['store']} holds neither the activations at the cut nor "
                            f"an index of the images of head {loaded.record['head_id']}'s configuration.")
        if split not in images_view.index.split_names():
            raise HeadError(f"No split {split!r}. Known: {', '.join(images_view.index.split_names())}")
        index = images_view.index
        rows = [i for i, (s, reason) in enumerate(zip(index.splits, index.reasons)) if s == split and not reason]
        labels, paths = np.asarray(index.labels)[rows].astype(np.int64), [index.paths[i] for i in rows]
        root = Path(index.data_root)
        images, _, reasons = resized_images(loaded, [str(root / p) for p in paths], CHUNK)
        ok = np.array([not r for r in reasons], bool)
        proba, labels, source = ft.predict_proba(images[ok]), labels[ok], "images"
    if len(labels) == 0:
        raise HeadError(f"The {split!r} split has no images for head {loaded.record['head_id']}.")
    result = metrics_mod.classification_metrics(labels, proba, ft.classes_, loaded.record["class_names"])
    result.update(head_id=loaded.record["head_id"], split=split, source=source)
    return result


def predict_finetuned(loaded, inputs, store, out, top: int, batch_size: int, fmt: str, verify: bool,
                      on_progress: Callable[[int], None] | None):
    """`heads predict` for a fine-tuned head (see the module docstring for what is reused)."""
    from heads.binding import check_reproduces
    from heads.predict import _file_hash, collect_images, finish_predictions

    ft: FineTunedHead = loaded.estimator
    view = cut_view(loaded, store)
    paths = collect_images(inputs)
    hashes, errors = (list(t) for t in zip(*(_file_hash(p) for p in paths)))
    known = view.catalog.rows if view is not None else {}
    stored = [i for i, h in enumerate(hashes) if h and h in known]
    fresh = [i for i, h in enumerate(hashes) if h and h not in known]
    proba = np.zeros((len(paths), len(loaded.class_names)))
    source = [""] * len(paths)
    if stored:
        proba[stored] = ft.proba_from_cut(view.features_for([hashes[i] for i in stored]).astype(np.float32))
        for i in stored:
            source[i] = "store"
        if on_progress:
            on_progress(len(stored))
    if fresh:
        if verify and stored:  # the frozen part rebuilt from the file must reproduce the stored activations
            sample, _, _ = resized_images(loaded, [str(paths[stored[0]])], 1)
            check_reproduces(view.config, view, ft.cut_activations(sample), [hashes[stored[0]]])
        images, digests, reasons = resized_images(loaded, [str(paths[i]) for i in fresh], batch_size, on_progress)
        good = [row for row, reason in enumerate(reasons) if not reason]
        computed = ft.predict_proba(images[good]) if good else None
        for row, i in enumerate(fresh):
            hashes[i] = digests[row] or hashes[i]
            errors[i] = reasons[row] or errors[i]
        for j, row in enumerate(good):
            proba[fresh[row]], source[fresh[row]] = computed[j], "computed"
    usable = [i for i in range(len(paths)) if source[i]]
    return finish_predictions(loaded, paths, hashes, source, errors, usable, proba[usable], top, out, fmt)
