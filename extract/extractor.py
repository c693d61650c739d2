"""The one object that turns images into the features of one configuration.

`extract run`, its workers and heads (prediction, export, fine-tuning) all go through it, so a
configuration is always built the same way: weights resolved and checked against the identity
the configuration was made with, the base built in the configuration's compute precision (that
precision scoped to the build, never left set for the process), float32 preprocessing,
resizing and pooling, the output shape checked. Creating one is cheap: TensorFlow is imported
only when the model is needed (or when the identity needs it: Keras's own ImageNet download,
whose identity is a hash of its tensors).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Callable

import numpy as np

from extract import devices
from extract.backbones import Backbone, get_backbone
from extract.errors import ExtractError, OptionError
from extract.model import (DTYPES, POOLING_MODES, RESIZE_MODES, build_base, build_feature_model,
                           preprocessing_layer, resizing_layer)
from extract.options import ExtractOptions, check_choice
from extract.runtimes import DEFAULT_RUNTIME, INT8_RUNTIME, get_runtime
from extract.runtimes.tensorflow import compile_inference  # noqa: F401  (kept importable from here)
from extract.weights import ResolvedWeights, WeightsError, resolve_weights
from store.config import ExtractorConfig
from store.layout import StoreLayout
from store.shards import file_sha256

DERIVABLE = ("layer", "pool", "augment", "dtype", "resize")  # what derive() may change; the weights stay


def _weights_mismatch(config: ExtractorConfig, where: str, found: str) -> WeightsError:
    return WeightsError(
        f"Weights on node {devices.node_name()} do not match configuration {config.config_id}: {where} has "
        f"{found}, the configuration was made with {config.weights_sha256}. Refusing to compute its features.")


class Extractor:
    """Images -> features of one configuration (see the module docstring). Made with
    `Extractor.from_options(ExtractOptions(...))` or `Extractor.from_config(config)`.

    Parameters
    ----------
    config : ExtractorConfig
        The configuration.
    weights : ResolvedWeights
        Its weights, resolved and checked.
    backbone : Backbone
        Its architecture.
    xla : bool, optional
        XLA compilation (default: per backbone, as measured).
    runtime : str, default "tensorflow"
        What runs the base (extract.runtimes).
    """

    def __init__(self, config: ExtractorConfig, weights: ResolvedWeights, backbone: Backbone,
                 xla: bool | None = None, runtime: str = DEFAULT_RUNTIME):
        self.config, self.weights, self.backbone = config, weights, backbone
        self.runtime = get_runtime(runtime).name  # checked here: an unknown name fails before any work
        self.runtime_store: Path | None = None  # where the runtime may keep a converted base (the run's store)
        self.calibration: list[tuple[str, str]] | None = None  # (path, hash) an int8 base is calibrated on
        self.xla = backbone.xla_on_cpu if xla is None else bool(xla)
        self._base = None
        self._model = None
        self._infer = None

    # --- making one ---------------------------------------------------------------------------
    @classmethod
    def from_options(cls, options: ExtractOptions, xla: bool | None = None,
                     runtime: str = DEFAULT_RUNTIME) -> "Extractor":
        """Checks every option and resolves the weights (their file's sha256); builds nothing,
        unless the weights are Keras's own download, whose identity is known only once loaded."""
        options.check()
        spec = get_backbone(options.backbone)
        resolved = resolve_weights(spec, options.weights, options.alpha, options.preprocess)
        if options.size is None and resolved.default_size is not None and resolved.default_size < spec.min_size:
            raise OptionError(f"The weights' default_size {resolved.default_size} is below backbone {spec.name}'s "
                              f"smallest ({spec.min_size}): give --size. Received: --weights {options.weights}")
        config = ExtractorConfig(
            backbone=spec.name, alpha=resolved.alpha, weights_sha256=resolved.sha256, preprocess=resolved.preprocess,
            # the size the weights were trained at (their manifest, a known file), else the backbone's
            size=int(options.size) if options.size is not None else resolved.default_size or spec.default_size,
            resize=options.resize,
            layer=options.layer or spec.default_layer, pool=options.pool, dtype=options.dtype,
            augment=options.augment, compute=options.compute, weights_source=resolved.source,
            quantize=options.quantize,
        )
        extractor = cls(config, resolved, spec, xla, runtime)
        if not resolved.sha256:
            extractor.build()
        return extractor

    @classmethod
    def from_config(cls, config: ExtractorConfig, xla: bool | None = None,
                    runtime: str = DEFAULT_RUNTIME) -> "Extractor":
        """Exactly that configuration. The weights are resolved and hashed here, on this node: a
        file whose sha256 is not the configuration's is refused (naming the node and both hashes)."""
        spec = get_backbone(config.backbone)
        source = config.weights_source or "imagenet"
        if source not in ("imagenet", "none"):
            path = Path(source)
            if not path.is_file():
                raise WeightsError(f"Weights file of configuration {config.config_id} not found on node "
                                   f"{devices.node_name()}. Received: {source}")
            actual = file_sha256(path)
            if actual != config.weights_sha256:
                raise _weights_mismatch(config, f"file {source}", f"sha256 {actual}")
        resolved = resolve_weights(spec, source, config.alpha, config.preprocess)
        if resolved.sha256 and resolved.sha256 != config.weights_sha256:
            raise _weights_mismatch(config, f"weights {source}", f"identity {resolved.sha256}")
        resolved = dataclasses.replace(resolved, preprocess_from="as the configuration records it", note=None)
        return cls(config, resolved, spec, xla, runtime)

    def derive(self, **changes) -> "Extractor":
        """The same weights with another layer, pooling, augmentation view, dtype or resize mode
        (e.g. the cut configuration of fine-tuning). Shares the loaded base when there is one."""
        unknown = set(changes) - set(DERIVABLE)
        if unknown:
            raise OptionError(f"derive() changes only {', '.join(DERIVABLE)}. Received: {', '.join(sorted(unknown))}")
        if "pool" in changes:
            check_choice("pooling", changes["pool"], POOLING_MODES)
        if "dtype" in changes:
            check_choice("dtype", changes["dtype"], DTYPES)
        if "resize" in changes:
            check_choice("resize mode", changes["resize"], RESIZE_MODES)
        same_shape = not {"layer", "pool"} & set(changes)
        config = dataclasses.replace(self.config, **changes,
                                     feature_shape=self.config.feature_shape if same_shape else ())
        other = Extractor(config, self.weights, self.backbone, self.xla, self.runtime)
        other.runtime_store = self.runtime_store
        other._base = self._base
        if same_shape and self._model is not None:
            other._model, other._infer = self._model, self._infer
        return other

    def with_store_record(self, store: str | Path) -> bool:
        """Take the feature shape (and provenance) from the store's record of this configuration,
        when it has one: a rerun then needs no model to know what it would hold."""
        record = StoreLayout(Path(store)).config_file(self.config.config_id)
        if not record.is_file():
            return False
        try:
            stored = ExtractorConfig.from_json(json.loads(record.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise ExtractError(f"Unreadable configuration record: {error}. Received: {record}") from None
        if self.config.feature_shape and tuple(stored.feature_shape) != tuple(self.config.feature_shape):
            raise ExtractError(f"Configuration {self.config.config_id} gives features of shape "
                               f"{self.config.feature_shape}; the store's record says {stored.feature_shape}.")
        self.config = dataclasses.replace(self.config, feature_shape=tuple(stored.feature_shape),
                                          provenance=stored.provenance)
        return True

    # --- building -----------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self._model is not None

    def _load_base(self):
        """The full base with its weights, built in the configuration's compute precision."""
        devices.prepare_tensorflow()
        with devices.compute_policy(self.config.compute):
            base, identity = build_base(self.backbone, self.config.size, self.weights)
        if self.config.weights_sha256 and identity != self.config.weights_sha256:
            raise _weights_mismatch(self.config, f"the loaded weights ({self.config.weights_source or 'imagenet'})",
                                    f"identity {identity}")
        if not self.config.weights_sha256:  # Keras's download: its identity is known from here on
            self.config = dataclasses.replace(self.config, weights_sha256=identity)
        return base

    def build(self) -> "Extractor":
        """Build and check once: weights identity, output shape (against a known feature shape)."""
        if self._model is not None:
            return self
        if self._base is None:
            self._base = self._load_base()
        model = build_feature_model(self.backbone, self._base, self.config.preprocess, self.config.layer,
                                    self.config.pool)
        shape = tuple(int(d) for d in model.output.shape[1:])
        if self.config.feature_shape and shape != tuple(self.config.feature_shape):
            raise ExtractError(f"The built {self.config.backbone} gives features of shape {shape}; configuration "
                               f"{self.config.config_id} holds {tuple(self.config.feature_shape)}. Refusing.")
        provenance = self.config.provenance or {
            **devices.backend_versions(), "created": dt.datetime.now(dt.timezone.utc).isoformat(), "compute": self.config.compute}
        self.config = dataclasses.replace(self.config, feature_shape=shape, provenance=provenance)
        self._model = model
        return self

    @property
    def model(self):
        """keras.Model: (size, size, 3) float32 RGB in 0..255 -> features (float32 at the output)."""
        return self.build()._model

    @property
    def infer(self) -> Callable:
        """`images -> float32 features` (numpy) as the extractor's runtime computes them (raw, not
        rounded through the dtype)."""
        if self._infer is None:
            # an int8 configuration's numbers are its int8 base's: no other runtime computes them
            runtime = INT8_RUNTIME if self.config.quantize else self.runtime
            self._infer = get_runtime(runtime).load(self.build(), self.runtime_store)
        return self._infer

    def base(self):
        """A fresh full convolutional base with the weights loaded (fine-tuning trains it)."""
        return self._load_base()

    def preprocessing_layer(self):
        return preprocessing_layer(self.config.preprocess)

    def resizing_layer(self):
        return resizing_layer(self.config.size, self.config.resize)

    # --- using it -----------------------------------------------------------------------------
    def features(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """float32 features of resized images, rounded through the storage dtype: what the store holds."""
        images = np.asarray(images, np.float32)
        expected = (self.config.size, self.config.size, 3)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise OptionError(f"features() takes a batch of {expected} RGB images in 0..255 (load_images() "
                              f"makes them from files). Received shape {images.shape}")
        out = []
        with devices.exact_float32(self.config.compute):
            for start in range(0, len(images), batch_size):
                out.append(np.asarray(self.infer(images[start:start + batch_size]), np.float32))
        features = np.concatenate(out) if out else np.zeros((0, *self.model.output.shape[1:]), np.float32)
        return features.astype(self.config.dtype).astype(np.float32)

    def _batches(self, paths, batch_size: int):
        """NumPy batches from the runtime's input path; a runtime other than TensorFlow decodes in this
        process (a few files, e.g. `heads predict`'s: starting worker processes would cost more)."""
        from extract.pipeline import input_batches

        workers = None if self.runtime == "tensorflow" else 0
        return input_batches([str(p) for p in paths], self.config.size, self.config.resize, batch_size,
                             self.config.augment, self.runtime, workers)

    def load_images(self, paths, batch_size: int = 32, on_progress: Callable[[int], None] | None = None):
        """Decoded and resized as extraction does it: (images, content hashes, reasons). A file that
        cannot be used has a zero image and its reason ("" for the others)."""
        paths = list(paths)
        images = np.zeros((len(paths), self.config.size, self.config.size, 3), np.float32)
        hashes, reasons = [""] * len(paths), [""] * len(paths)
        for batch, positions, digests, why in self._batches(paths, batch_size):
            for row, position in enumerate(positions):
                hashes[position], reasons[position] = digests[row], why[row]
                if not reasons[position]:
                    images[position] = batch[row]
            if on_progress:
                on_progress(len(positions))
        return images, hashes, reasons

    def features_of_files(self, paths, batch_size: int = 32, on_progress: Callable[[int], None] | None = None):
        """(features, content hashes, reasons) of image files, batch by batch (never all images in
        memory). A file that cannot be used has zero features and its reason."""
        paths = list(paths)
        shape = self.build().config.feature_shape
        features = np.zeros((len(paths), *shape), np.float32)
        hashes, reasons = [""] * len(paths), [""] * len(paths)
        for batch, positions, digests, why in self._batches(paths, batch_size):
            rows = self.features(batch, batch_size)
            for row, position in enumerate(positions):
                hashes[position], reasons[position] = digests[row], why[row]
                if not reasons[position]:
                    features[position] = rows[row]
            if on_progress:
                on_progress(len(positions))
        return features, hashes, reasons

    def __repr__(self) -> str:
        state = "built" if self.built else "not built"
        return f"Extractor({self.config.config_id}, {self.config.compute}, {state})"
