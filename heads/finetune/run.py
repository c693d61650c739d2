"""`heads finetune` as a Python function: reopen the top blocks of a dense head's backbone and train
them with the head, by SGD with a small learning rate, on augmented images.

Two paths, the same network and recipe:
  cached (default)  the frozen part below the cut runs once per image and view (`extract run
                    --layer <cut> --views K`, done here when not cached yet); every epoch trains
                    only the reopened blocks and the head on those activations.
  full              every epoch runs the whole base on every image, augmented online by Keras
                    preprocessing layers (what the Keras blog and retrain.py do).

The rows are the starting head's own (its split record, its classes by name). Early stopping
watches train rows held out from training; the validation split is only scored.
Everything that can be refused is refused before anything is extracted or written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from extract import AugmentSpec, Extractor, RunOptions, run_views
from extract.runtimes.choice import CHOICES as RUNTIME_CHOICES
from heads import artifact, binding, record as records
from heads.data import default_memory_limit_mb
from heads.errors import HeadError
from heads.finetune.data import cached_data, check_memory, holdout_split, image_data
from heads.finetune.network import FineTuneNet, plan_reopen
from heads.finetune.record import FINETUNE_KIND, publish
from heads.finetune import train as training_step
from heads.kinds.finetune import FineTuneRecipe
from store import FeatureStore
from store.index_check import edited_reason


@dataclass
class FineTuneResult:
    head_id: str
    folder: Path
    record: dict
    metrics: dict[str, dict]
    notes: list[str]


def _rows(start, index, stop_on: str) -> tuple[binding.SplitRows, dict[str, binding.SplitRows], list[str]]:
    """The starting head's train rows and the other splits' rows in today's data, with the notes."""
    notes = binding.check_classes(start.class_names, index)
    train = binding.rows_to_score(start.class_names, start.rows, index, "train")
    train = train.subset(np.isin(train.labels, start.labels_))  # a class the head cannot predict is not trained
    others = [s for s in index.split_names() if s not in ("train", "unlabelled")]
    scored = {s: binding.rows_to_score(start.class_names, start.rows, index, s) for s in others}
    scored = {s: rows for s, rows in scored.items() if len(rows)}
    notes += train.notes + [n for rows in scored.values() for n in rows.notes]
    if len(train) == 0:
        raise HeadError(f"Dataset {index.name} has no train rows of head {start.head_id}'s classes.")
    if stop_on == "validation" and ("validation" not in scored or "test" not in scored):
        raise HeadError(f"--stop-on validation chooses the epoch on the validation split, so only a test split can "
                        f"be reported; dataset {index.name} has splits {', '.join(index.split_names())}. Use the "
                        f"default (held-out train rows).")
    return train, scored, notes


def finetune_head(head: str | Path, data: str | Path | None = None, store: str | Path | None = None,
                  blocks: int = 1, path: str = "cached", views: int | None = None, epochs: int = 30,
                  batch_size: int = 32, learning_rate: float = 1e-4, momentum: float = 0.9, patience: int = 5,
                  stop_on: str = "holdout", holdout_fraction: float = 0.1, flip: bool = True, rotation: float = 0.1,
                  zoom: float = 0.1, shift: float = 0.1, seed: int = 0, memory_limit_mb: float | None = None,
                  out: str | Path | None = None, extract_batch_size: int = 32,
                  on_stage: Callable[[str], None] | None = None, on_epoch: Callable[[int, dict], None] | None = None,
                  on_images: Callable[[str, int | None, int], None] | None = None,
                  runtime: str = "tensorflow") -> FineTuneResult:
    """Fine-tune a dense head with its backbone's top `blocks` blocks; publish it as a head folder.

    Parameters
    ----------
    head : str or Path
        The dense head to start from: a folder, or a head id (or unique prefix) with `store`.
    data : str or Path, optional
        The images (the head's classes); default: the folder the head was fitted on.
    store : str or Path, optional
        The head's store, where the activations at the cut are cached (default: the head's own).
    blocks : int, default 1
        Top convolutional blocks to reopen (VGG16: 1 = block5, 2 = block4 + block5).
    path : str, default "cached"
        cached: train on activations cached below the reopened blocks (extracted when missing); full: the
        whole base on every image every epoch.
    views : int, optional
        With path "cached": fixed augmented views cached per train image (default 5).
    epochs : int, default 30
        Most epochs.
    batch_size : int, default 32
        Rows per step.
    learning_rate, momentum : float, default 1e-4, 0.9
        SGD's (small: the blocks are pretrained).
    patience : int, default 5
        Stop after this many epochs without a lower loss on the stopping rows, keeping the best epoch's
        weights; 0: all epochs, last weights.
    stop_on : str, default "holdout"
        The rows early stopping watches: holdout (train rows held out from training) or validation (then
        only a test split gives an honest figure).
    holdout_fraction : float, default 0.1
        Share of the train rows held out for early stopping.
    flip, rotation, zoom, shift : augmentation
        The augmentation of the train images (as extract.AugmentSpec).
    seed : int, default 0
        Seed of the views, the online augmentation, the held-out rows and the batch order.
    memory_limit_mb : float, optional
        MB of activations or images held in memory (default: half of the available).
    out : str or Path, optional
        The head folder (default `<store>/heads/<id>`).
    extract_batch_size : int, default 32
        Images per batch when activations are extracted.
    on_stage : callable(str), optional
        Called with a short line at each stage.
    on_epoch : callable(int, dict), optional
        Called per epoch with its logs.
    on_images : callable(str, int or None, int), optional
        `on_images(label, total, done)` reports extraction or decoding progress (total when known).
    runtime : str, default "tensorflow"
        What runs the frozen part below the cut where its activations are cached (extract.runtimes:
        tensorflow, onnxruntime, auto); the reopened blocks always train in Keras.

    Returns
    -------
    FineTuneResult
        head_id, folder, record, metrics per split and notes.

    Raises
    ------
    HeadError
        On a head that is not dense, a bad option, or data the head cannot be bound to.
    """
    started = time.perf_counter()
    stage = on_stage or (lambda message: None)
    recipe = FineTuneRecipe(blocks, path, views, epochs, batch_size, learning_rate, momentum, patience, stop_on,
                            holdout_fraction, flip, rotation, zoom, shift, seed).checked()
    if runtime not in RUNTIME_CHOICES:
        raise HeadError(f"Unknown runtime {runtime!r}. Allowed: {', '.join(RUNTIME_CHOICES)}. Received: --runtime {runtime}")
    start = artifact.load_head(artifact.resolve_head(head, store))
    if start.kind.name != "dense":
        raise HeadError(f"Fine-tuning starts from a dense head (its trained weights on top of the reopened blocks); "
                        f"{start.head_id} is a {start.kind.name} head. Fit one with `heads fit --kind dense`.")
    if len(start.inputs.configs) > 1:
        raise HeadError(f"Fine-tuning reopens one backbone; head {start.head_id} reads {len(start.inputs.configs)} "
                        f"configurations ({' + '.join(start.inputs.ids)}). Start from a dense head of one.")
    config = start.inputs.configs[0]
    store = Path(store) if store is not None else start.store
    extractor = Extractor.from_config(config)
    plan = plan_reopen(extractor.backbone, config.layer, recipe.blocks)
    if recipe.path == "cached" and plan.cut is None:
        raise HeadError(f"--blocks {plan.blocks} reopens every block of {config.backbone} up to {config.layer}: "
                        f"nothing frozen is left to cache. Use --path full, or fewer --blocks.")
    dataset = start.record["data"]["dataset"]
    features = FeatureStore(store)
    index = features.dataset(dataset)
    edited = edited_reason(features.layout, index)  # its labels would be trained on: refused as `heads fit` does
    if edited:
        raise HeadError(f"Refusing to fine-tune: {edited}. `extract run` again indexes the data folder anew "
                        f"(`extract verify` lists such indexes). Received: {store}")
    root = Path(data) if data is not None else Path(index.data_root)
    if not root.is_dir():
        raise HeadError(f"Data folder not found (dataset {dataset} of head {start.head_id} was extracted from "
                        f"{index.data_root}; give --data). Received: {root}")
    _check_files(index, root)
    train, scored, _ = _rows(start, index, recipe.stop_on)
    artifact.check_out(out)
    head_id = records.new_head_id(FINETUNE_KIND)
    target = Path(out) if out is not None else artifact.heads_dir(store) / head_id

    stage(f"building {config.backbone} with blocks {', '.join(plan.reopened)} reopened on {start.head_id}")
    extractor.build()
    net = FineTuneNet(extractor.base(), plan, extractor.preprocessing_layer(), config.pool,
                      start.model.estimator.model_, config.size)
    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    others = sum(len(rows) for rows in scored.values())
    if recipe.path == "cached":
        rows = (recipe.views + 1) * len(train) + others
        check_memory(rows * np.prod(net.cut_shape) * np.dtype(config.dtype).itemsize, limit,
                     f"{recipe.views} views and the plain activations at {plan.cut} ({rows} rows)")
    else:
        check_memory((len(train) + others) * config.size ** 2 * 3 * 4, limit, f"{len(train) + others} decoded images")

    prepared = time.perf_counter()
    cut_config = dataclasses.replace(config, layer=net.cut_layer, pool="none", augment=None,
                                     feature_shape=net.cut_shape)
    report = on_images or (lambda label, total, done: None)
    # The head's input is the plain activations at the cut: cached on both paths (so eval and predict read
    # them from the store), with K augmented views of the train images on the cached path.
    extraction = _cache_activations(cut_config, recipe, dataclasses.replace(index, data_root=str(root)), store,
                                    extract_batch_size, stage, report, runtime)
    train, scored, notes = _rows(start, index, recipe.stop_on)
    notes += extraction.pop("notes")
    hold = None
    if recipe.patience and recipe.stop_on == "holdout":
        _, hold = holdout_split(train, recipe.holdout_fraction, recipe.seed)
    if recipe.path == "cached":
        features = FeatureStore(store)
        plain = features.view(extraction["cut_config"], dataset)
        augmented = [features.view(i, dataset) for i in extraction["view_configs"]]
        training = cached_data(plain, augmented, train, scored, hold)
    else:
        total = len(train) + others
        stage(f"decoding {total} images into memory")
        report("decoding", total, 0)
        training = image_data(extractor, root, train, scored, hold, extract_batch_size,
                              on_progress=lambda n: report("decoding", None, n))
    training.notes = notes + training.notes
    training.extraction = extraction
    prepare_seconds = time.perf_counter() - prepared

    stop = training.holdout if recipe.stop_on == "holdout" else training.scored["validation"]
    monitor = training.scored.get("validation") if recipe.stop_on == "holdout" else None
    model, history, timing = training_step.train(net, recipe, training, start.labels_, stop, monitor, stage,
                                                          on_epoch)
    stage("scoring the train rows (without augmentation), the held-out rows and the other splits")
    scoring = time.perf_counter()
    scores = training_step.score(model, training, start.labels_, start.class_names)
    timing.update(prepare_seconds=prepare_seconds, score_seconds=time.perf_counter() - scoring,
                  total_seconds=time.perf_counter() - started)
    stage(f"writing {target}")
    record = publish(target, head_id, start, net, recipe, cut_config, training, index, store, history, timing,
                     scores, limit)
    return FineTuneResult(head_id, target, record, scores, training.notes)


def _check_files(index, root: Path) -> None:
    """The files of the head's dataset must be under `root` (the data folder, maybe moved since) with the
    content they were indexed with: fine-tuning extracts them again at the cut."""
    differ = []
    for path, digest, reason in zip(index.paths, index.hashes, index.reasons):
        if reason:
            continue
        try:
            same = hashlib.sha256((root / path).read_bytes()).hexdigest() == digest
        except OSError:
            same = False
        if not same:
            differ.append(path)
    if differ:
        raise HeadError(f"{len(differ)} of the {len(index.paths)} files of dataset {index.name} are not under {root} "
                        f"as indexed (missing or changed, e.g. {differ[0]}): give --data the folder the dataset was "
                        f"extracted from ({index.data_root}), or `extract run` the data again first.")


def _cache_activations(cut_config, recipe, index, store: Path, batch_size: int, stage, report,
                       runtime: str = "tensorflow") -> dict:
    """Extract what the store lacks at the cut: the plain activations of every image and, on the cached
    path, K views of the train images (a view is a pure function of seed, view number and image content)."""
    spec = AugmentSpec(recipe.flip, recipe.rotation, recipe.zoom, recipe.shift, recipe.seed)
    views = f", and {recipe.views} augmented views of the train images" if recipe.views else ""
    stage(f"caching activations at {cut_config.layer} (plain{views}) in {store}; images already cached are skipped")
    labels = iter(["extracting plain"] + [f"extracting view {v + 1}/{recipe.views}" for v in range(recipe.views)])
    current = {"label": ""}

    def on_start(total: int) -> None:
        current["label"] = next(labels, "extracting")
        report(current["label"], total, 0)

    started = time.perf_counter()
    # the files of the head's dataset as they are (no new scan: the dataset and other heads' data stay as they were)
    summaries = run_views(recipe.views, spec, index, store, cut_config, RunOptions(batch_size=batch_size, runtime=runtime),
                          on_start=on_start, on_progress=lambda n: report(current["label"], None, n))
    for summary in summaries:
        if summary.config.weights_sha256 != cut_config.weights_sha256 or \
                tuple(summary.config.feature_shape) != tuple(cut_config.feature_shape):
            raise HeadError(f"Extraction at {cut_config.layer} built configuration {summary.config.config_id}, which "
                            f"does not match the head's backbone (weights or shape). Refusing.")
    return {"cut_config": summaries[0].config.config_id, "view_configs": [s.config.config_id for s in summaries[1:]],
            "extract_seconds": round(time.perf_counter() - started, 3), "extracted": [s.extracted for s in summaries],
            "runtimes": sorted({line for s in summaries for line in s.runtimes.values()}),
            "notes": [n.message for s in summaries for n in s.notes if n.code == "runtime-fallback"]}
