"""`heads eval` and `heads list`: a head's numbers again on any split, and every head of a store ranked.

Eval reads the split from the store the head was trained on (or one given, which
must hold the head's exact configuration), streaming it when it is larger than memory.
"""
from __future__ import annotations

from pathlib import Path

from heads import metrics as metrics_mod
from heads.artifact import list_heads, load_head, resolve_head
from heads.binding import view_for_head
from heads.data import StreamSource, buffer_rows_for, default_memory_limit_mb
from heads.errors import HeadError
from heads.incremental import predict_proba_stream
from store import FeatureStore


def eval_head(head: str | Path, split: str = "validation", store: str | Path | None = None,
              memory_limit_mb: float | None = None) -> dict:
    """Metrics of a head on one split of its configuration's features."""
    loaded = load_head(resolve_head(head, store))
    if loaded.record["kind"] == "finetune":
        from heads.finetune_use import eval_finetuned

        return eval_finetuned(loaded, split, store)
    view = view_for_head(loaded, store)
    limit = default_memory_limit_mb() if memory_limit_mb is None else float(memory_limit_mb)
    source = StreamSource.for_split(view, split, buffer_rows_for(view.config.feature_shape, limit, 512))
    if len(source) == 0:
        raise HeadError(f"The {split!r} split of configuration {view.config.config_id} has no features.")
    proba, labels = predict_proba_stream(loaded.estimator, source)
    result = metrics_mod.classification_metrics(labels, proba, loaded.estimator.classes_, view.class_names)
    result["head_id"] = loaded.record["head_id"]
    result["split"] = split
    return result


def _rank_key(record: dict, split: str):
    summary = record.get("metrics", {}).get(split) or {}
    accuracy = summary.get("accuracy")
    loss = summary.get("log_loss")
    return (-(accuracy if accuracy is not None else -1.0), loss if loss is not None else float("inf"))


def list_store_heads(store: str | Path, config: str | None = None, split: str = "validation") -> list[dict]:
    """Every head of the store (optionally of one configuration), best first by `split` accuracy then log loss."""
    wanted = FeatureStore(store).select(config).config_id if config is not None else None
    rows = []
    for folder, record in list_heads(store):
        if wanted is not None and record.get("config_id") != wanted:
            continue
        rows.append({**record, "folder": str(folder)})
    return sorted(rows, key=lambda r: _rank_key(r, split))
