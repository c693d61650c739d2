"""From user options to a checked extractor configuration and its built model.

Everything that can be refused is refused here, before anything is written.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from extract.backbones import Backbone, get_backbone
from extract.model import DTYPES, POOLING_MODES, RESIZE_MODES, build_base, build_feature_model
from extract.weights import ResolvedWeights, resolve_weights
from store.config import ExtractorConfig


class OptionError(ValueError):
    pass


@dataclass
class Configured:
    config: ExtractorConfig
    weights: ResolvedWeights
    backbone: Backbone
    model: object  # keras.Model: raw RGB batch -> features


def use_mixed_precision_on_gpu() -> bool:
    """float16 compute where a GPU can use it; the CPU path (and every test) stays float32."""
    import keras
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return False
    keras.mixed_precision.set_global_policy("mixed_float16")
    return True


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"Unknown {name} {value!r}. Allowed: {', '.join(allowed)}")


def configure(backbone: str, weights: str = "imagenet", size: int | None = None, layer: str | None = None,
              pool: str = "none", dtype: str = "float16", preprocess: str | None = None,
              alpha: float | None = None, resize: str = "squash", augment: dict | None = None) -> Configured:
    import keras
    import tensorflow as tf

    spec = get_backbone(backbone)
    _check_choice("pooling", pool, POOLING_MODES)
    _check_choice("dtype", dtype, DTYPES)
    _check_choice("resize mode", resize, RESIZE_MODES)
    if alpha is not None and not spec.has_alpha:
        raise OptionError(f"Backbone {backbone} has no width multiplier. Received: --alpha {alpha}")
    size = spec.default_size if size is None else int(size)
    if size < spec.min_size:
        raise OptionError(f"Backbone {backbone} needs --size of at least {spec.min_size}. Received: {size}")
    layer = layer or spec.default_layer
    resolved = resolve_weights(spec, weights, alpha, preprocess)
    mixed_precision = use_mixed_precision_on_gpu()
    base, weights_sha = build_base(spec, size, resolved)
    model = build_feature_model(spec, base, resolved.preprocess, layer, pool)
    config = ExtractorConfig(
        backbone=spec.name, alpha=resolved.alpha, weights_sha256=weights_sha, preprocess=resolved.preprocess,
        size=size, resize=resize, layer=layer, pool=pool, dtype=dtype, augment=augment,
        weights_source=resolved.source, feature_shape=tuple(int(d) for d in model.output.shape[1:]),
        provenance={
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "compute": "mixed_float16 on GPU" if mixed_precision else "float32",
        },
    )
    return Configured(config, resolved, spec, model)
