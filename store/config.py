"""The extractor configuration: everything that changes the numbers a base produces.

A configuration's id is a hash of its identity fields only, so two runs that
would produce the same features share one id (and one cache), and any change
to a field that alters the numbers gives a new id.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from store import atomic
from store.layout import StoreLayout

IDENTITY_FIELDS = (
    "backbone", "alpha", "weights_sha256", "preprocess", "size", "resize",
    "layer", "pool", "dtype", "augment",
)
COMPUTE_PRECISIONS = ("float32", "mixed_float16")


@dataclasses.dataclass(frozen=True)
class ExtractorConfig:
    """Everything that changes the numbers of a feature: its id is a hash of these (`config_id`).

    Parameters
    ----------
    backbone : str
        Backbone name (extract.backbones).
    weights_sha256 : str
        The weights' identity.
    preprocess : str
        Preprocessing mode (caffe, tf, torch...).
    size : int
        Input size in pixels (square).
    layer : str
        The layer the features are read from.
    pool : str, default "none"
        Pooling over the feature map (none, avg, max).
    dtype : str, default "float16"
        How features are stored.
    resize : str, default "squash"
        How an image is brought to `size`.
    alpha : float, optional
        Width multiplier of MobileNets.
    augment : dict, optional
        The augmentation or test-time view; None for the plain image.
    compute : str, default "float32"
        The precision the base computes in.
    weights_source : str, optional
        Where the weights came from (provenance, not identity).
    feature_shape : tuple of int, optional
        Shape of one feature tensor.
    provenance : dict, optional
        Other provenance, not part of the identity.
    quantize : str, optional
        "int8" for an int8 base (part of the identity); None for float.
    """
    backbone: str
    weights_sha256: str
    preprocess: str
    size: int
    layer: str
    pool: str = "none"
    dtype: str = "float16"
    resize: str = "squash"
    alpha: float | None = None
    augment: dict | None = None
    # The precision the base computes in. In the identity only when not float32, so that the ids of
    # every float32 configuration made before this field existed stay what they were.
    compute: str = "float32"
    # An int8 base (extract.runtimes.int8): other numbers, so in the identity, and only when set, so
    # that every float configuration keeps its id.
    quantize: str | None = None
    # Provenance: recorded with the configuration, not part of its identity.
    weights_source: str = ""
    feature_shape: tuple[int, ...] = ()
    provenance: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def identity(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in IDENTITY_FIELDS}
        if self.compute != "float32":
            fields["compute"] = self.compute
        if self.quantize is not None:
            fields["quantize"] = self.quantize
        return fields

    def __post_init__(self) -> None:
        if self.compute not in COMPUTE_PRECISIONS:
            raise ValueError(f"Unknown compute precision {self.compute!r}. Allowed: {', '.join(COMPUTE_PRECISIONS)}")

    @property
    def config_id(self) -> str:
        canonical = json.dumps(self.identity, sort_keys=True, separators=(",", ":"))
        return f"{self.backbone}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["feature_shape"] = list(self.feature_shape)
        data["config_id"] = self.config_id
        if self.quantize is None:
            del data["quantize"]  # records of float configurations stay as they were
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExtractorConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known - {"config_id"}
        if unknown:
            raise ValueError(f"Unknown configuration fields {sorted(unknown)}. Received: {sorted(data)}")
        fields = {k: v for k, v in data.items() if k in known}
        fields["feature_shape"] = tuple(fields.get("feature_shape") or ())
        config = cls(**fields)
        if "config_id" in data and data["config_id"] != config.config_id:
            raise ValueError(
                f"Configuration record does not match its id: recorded {data['config_id']}, "
                f"computed {config.config_id} (the file was edited or is foreign)."
            )
        return config


def write_config(layout: StoreLayout, config: ExtractorConfig) -> None:
    """Record a configuration the first time it is written to (staged; never rewritten after)."""
    config_file = layout.config_file(config.config_id)
    if not config_file.is_file():
        atomic.write_json(config_file, config.to_json())
