"""A head is bound to one extractor configuration: find its features, rebuild its backbone, refuse the rest.

A head fitted on one configuration's features gives meaningless numbers on another's
(other backbone, weights, size, layer, pooling...). Every stage that feeds a head
(eval, predict, export) goes through here, and refuses with one line instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heads.artifact import LoadedHead
from heads.errors import HeadError
from store import ConfigView, FeatureStore, is_store
from store.config import ExtractorConfig


def _describe(config: ExtractorConfig) -> str:
    pool = f", pool {config.pool}" if config.pool != "none" else ""
    return f"{config.config_id} ({config.backbone} {config.size}px, {config.layer}{pool})"


def view_for_head(head: LoadedHead, store: str | Path | None = None, required: bool = True) -> ConfigView | None:
    """The store view of the head's configuration; the head's own store unless another is given.

    With required=False a missing default store yields None (predict then computes every
    feature itself); a store that is given but lacks the configuration is always refused.
    """
    explicit = store is not None
    store = Path(store) if explicit else Path(head.record["store"])
    if not is_store(store):
        if explicit or required:
            raise HeadError(f"Not a feature store (no store.json). Received: {store}")
        return None
    config = head.config
    configs = FeatureStore(store).configs()
    if config.config_id not in {c.config_id for c in configs}:
        held = "; ".join(_describe(c) for c in configs) or "no configurations"
        raise HeadError(f"Head {head.record['head_id']} was trained on configuration {_describe(config)}, "
                        f"but store {store} holds {held}. Refusing: use the head with its own store.")
    view = FeatureStore(store).view(config.config_id)
    if tuple(view.config.feature_shape) != tuple(head.record["input_shape"]):
        raise HeadError(f"Configuration {config.config_id} in store {store} has features of shape "
                        f"{tuple(view.config.feature_shape)}; head {head.record['head_id']} takes "
                        f"{tuple(head.record['input_shape'])}.")
    return view


@dataclass
class Extractor:
    """The head's backbone rebuilt from its configuration: raw RGB (0..255, size x size) -> features."""

    config: ExtractorConfig
    weights: object  # extract.weights.ResolvedWeights
    model: object  # keras.Model
    infer: object  # compiled images -> float32 features

    def features(self, images: np.ndarray) -> np.ndarray:
        """Features as the store would hold them (rounded through the store's dtype)."""
        out = np.asarray(self.infer(images), dtype=np.float32)
        return out.astype(self.config.dtype).astype(np.float32)


def resolve_config_weights(config: ExtractorConfig):
    """The weights a configuration was extracted with, checked by sha256 (refused when they changed)."""
    from extract.backbones import get_backbone
    from extract.weights import resolve_weights

    try:
        resolved = resolve_weights(get_backbone(config.backbone), config.weights_source or "imagenet",
                                   config.alpha, config.preprocess)
    except ValueError as error:
        raise HeadError(f"Cannot rebuild the backbone of configuration {config.config_id}: {error}") from None
    if resolved.sha256 and resolved.sha256 != config.weights_sha256:
        raise HeadError(f"Weights {config.weights_source} now have sha256 {resolved.sha256[:16]}...; configuration "
                        f"{config.config_id} was extracted with {config.weights_sha256[:16]}... Refusing: the "
                        f"features would not match the head.")
    return resolved


def build_extractor(config: ExtractorConfig, xla: bool | None = None) -> Extractor:
    """Backbone + preprocessing + layer + pooling exactly as `extract run` built them for this configuration."""
    from extract.backbones import get_backbone
    from extract.model import build_base, build_feature_model
    from extract.runner import compile_inference

    resolved = resolve_config_weights(config)
    backbone = get_backbone(config.backbone)
    base, sha = build_base(backbone, config.size, resolved)
    if sha != config.weights_sha256:
        raise HeadError(f"The rebuilt {config.backbone} weights have identity {sha[:24]}...; configuration "
                        f"{config.config_id} was extracted with {config.weights_sha256[:24]}... Refusing.")
    model = build_feature_model(backbone, base, config.preprocess, config.layer, config.pool)
    shape = tuple(int(d) for d in model.output.shape[1:])
    if shape != tuple(config.feature_shape):
        raise HeadError(f"The rebuilt backbone gives features of shape {shape}; configuration {config.config_id} "
                        f"holds {tuple(config.feature_shape)}. Refusing.")
    use_xla = backbone.xla_on_cpu if xla is None else xla
    return Extractor(config, resolved, model, compile_inference(model, use_xla))


def check_reproduces(config: ExtractorConfig, view: ConfigView, fresh: np.ndarray, hashes: list[str],
                     tolerance: float = 0.02) -> None:
    """Refuse when features recomputed here for stored images differ from the store's.

    This catches a configuration that does not match the images the store holds
    (another backbone build, other weights under the same name, other resizing).
    """
    stored = view.features_for(hashes).astype(np.float32)
    scale = max(float(np.abs(stored).max()), 1e-6)
    worst = float(np.abs(np.asarray(fresh, np.float32) - stored).max()) / scale
    if worst > tolerance:
        raise HeadError(f"Features recomputed for {len(hashes)} stored images differ from the store's by "
                        f"{worst:.3f} of their range (allowed {tolerance}): this backbone does not reproduce "
                        f"configuration {config.config_id}. Refusing.")
