"""`heads finetune` as a Python function: reopen the top blocks of a dense head's backbone and train
them with the head, by SGD with a small learning rate, on augmented images.

Two paths, the same network and recipe:
  cached (default)  the frozen part below the cut runs once per image and view (`extract run
                    --layer <cut> --views K`, done here when not cached yet); every epoch trains
                    only the reopened blocks and the head on those activations.
  full              every epoch runs the whole base on every image, augmented online by Keras
                    preprocessing layers (what the Keras blog and retrain.py do).

Everything that can be refused is refused before anything is extracted or written.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from heads import artifact
from heads.errors import HeadError
from heads.finetune_data import TRAIN, VALIDATION, check_memory, check_scan
from heads.finetune_model import FineTuneNet, plan_reopen

FINETUNE_KIND = "finetune"
PATHS = ("cached", "full")
DEFAULT_VIEWS = 5


@dataclass
class FineTuneResult:
    head_id: str
    folder: Path
    record: dict
    metrics: dict[str, dict]


@dataclass
class Settings:
    """The recipe, checked; recorded as the head's parameters."""

    blocks: int
    path: str
    views: int  # 0 on the full path (online augmentation)
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    patience: int
    flip: bool
    rotation: float
    zoom: float
    shift: float
    seed: int

    @property
    def augment(self) -> dict:
        return {"flip": self.flip, "rotation": self.rotation, "zoom": self.zoom, "shift": self.shift,
                "seed": self.seed}


def check_settings(blocks, path, views, epochs, batch_size, learning_rate, momentum, patience, flip, rotation,
                   zoom, shift, seed) -> Settings:
    path = getattr(path, "value", path)
    if path not in PATHS:
        raise HeadError(f"Unknown path {path!r}. Allowed: {', '.join(PATHS)}")
    if path == "full" and views is not None:
        raise HeadError(f"--views caches fixed augmented views for --path cached; --path full augments online. "
                        f"Received: --path full --views {views}")
    views = (DEFAULT_VIEWS if views is None else views) if path == "cached" else 0
    for name, value, low in (("views", views, 1 if path == "cached" else 0), ("epochs", epochs, 1),
                             ("batch-size", batch_size, 1), ("patience", patience, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise HeadError(f"--{name} must be an integer of at least {low}. Received: --{name} {value!r}")
    if not learning_rate > 0:
        raise HeadError(f"--learning-rate must be positive. Received: {learning_rate!r}")
    if not 0 <= momentum < 1:
        raise HeadError(f"--momentum must be in [0, 1). Received: {momentum!r}")
    for name, value in (("rotation", rotation), ("zoom", zoom), ("shift", shift)):
        if not 0 <= value < 1:
            raise HeadError(f"--{name} must be in [0, 1). Received: --{name} {value!r}")
    return Settings(int(blocks) if isinstance(blocks, (int, np.integer)) and not isinstance(blocks, bool)
                    else blocks, path, int(views), int(epochs), int(batch_size), float(learning_rate),
                    float(momentum), int(patience), bool(flip), float(rotation), float(zoom), float(shift), int(seed))


def finetune_head(head: str | Path, data: str | Path, store: str | Path | None = None, blocks: int = 1,
                  path: str = "cached", views: int | None = None, epochs: int = 30, batch_size: int = 32,
                  learning_rate: float = 1e-4, momentum: float = 0.9, patience: int = 5, flip: bool = True,
                  rotation: float = 0.1, zoom: float = 0.1, shift: float = 0.1, seed: int = 0,
                  memory_limit_mb: float | None = None, out: str | Path | None = None,
                  extract_batch_size: int = 32, on_stage: Callable[[str], None] | None = None,
                  on_epoch: Callable[[int, dict], None] | None = None,
                  on_images: Callable[[str, int | None, int], None] | None = None) -> FineTuneResult:
    """Fine-tune a dense head with its backbone's top `blocks` blocks; publish it as a head folder.

    `on_images(label, total, done)` reports extraction or decoding progress (total when known).
    """
    from extract.backbones import get_backbone
    from extract.model import build_base
    from extract.scan import scan_dataset
    from heads.binding import resolve_config_weights
    from heads.data import default_memory_limit_mb
    from heads.finetune_record import publish
    from heads.finetune_train import prepare_data, score, train

    started = time.perf_counter()
    stage = on_stage or (lambda message: None)
    settings = check_settings(blocks, path, views, epochs, batch_size, learning_rate, momentum, patience, flip,
                              rotation, zoom, shift, seed)
    folder = artifact.resolve_head(head, store)
    record = artifact.read_record(folder)
    if record.get("kind") != "dense":
        raise HeadError(f"Fine-tuning starts from a dense head (its trained weights on top of the reopened blocks); "
                        f"{record.get('head_id')} is a {record.get('kind')} head. Fit one with `heads fit --kind "
                        f"dense`.")
    start = artifact.load_head(folder)
    config = start.config
    store = Path(store) if store is not None else Path(record["store"])
    plan = plan_reopen(get_backbone(config.backbone), config.layer, settings.blocks)
    if settings.path == "cached" and plan.cut is None:
        raise HeadError(f"--blocks {plan.blocks} reopens every block of {config.backbone} up to {config.layer}: "
                        f"nothing frozen is left to cache. Use --path full, or fewer --blocks.")
    scan = scan_dataset(data)
    counts = check_scan(scan, record)
    head_id = artifact.new_head_id(FINETUNE_KIND)
    target = Path(out) if out is not None else artifact.heads_dir(store) / head_id
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise HeadError(f"Output folder exists and is not empty. Received: --out {target}")

    stage(f"building {config.backbone} with blocks {', '.join(plan.reopened)} reopened on {record['head_id']}")
    resolved = resolve_config_weights(config)
    base, sha = build_base(get_backbone(config.backbone), config.size, resolved)
    if sha != config.weights_sha256:
        raise HeadError(f"The rebuilt {config.backbone} weights have identity {sha[:24]}...; the head's "
                        f"configuration {config.config_id} was extracted with {config.weights_sha256[:24]}... Refusing.")
    net = FineTuneNet(base, plan, config.preprocess, config.pool, start.estimator.model_, config.size)
    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    n_train, n_val = counts[TRAIN], counts[VALIDATION]
    if settings.path == "cached":
        rows = (settings.views + 1) * n_train + n_val
        check_memory(rows * np.prod(net.cut_shape) * np.dtype(config.dtype).itemsize, limit,
                     f"{settings.views} views and the plain activations at {plan.cut} ({rows} rows)")
    else:
        check_memory((n_train + n_val) * config.size ** 2 * 3 * 4, limit, f"{n_train + n_val} decoded images")

    prepared = time.perf_counter()
    training = prepare_data(net, settings, config, resolved, scan, store, extract_batch_size, stage, on_images)
    prepare_seconds = time.perf_counter() - prepared
    model, history, timing = train(net, settings, training, start.estimator.classes_, stage, on_epoch)
    stage("scoring the train (without augmentation) and validation splits")
    scored = time.perf_counter()
    scores = score(model, settings, training, start.estimator.classes_, scan.classes)
    timing.update(prepare_seconds=prepare_seconds, score_seconds=time.perf_counter() - scored,
                  total_seconds=time.perf_counter() - started)
    stage(f"writing {target}")
    record = publish(target, head_id, start, net, settings, training, scan, store, history, timing, scores, limit)
    return FineTuneResult(head_id, target, record, scores)
