"""Keras 3 on another backend (JAX, PyTorch) runs the same `keras.applications` base.

Keras picks its backend once per process, at import. So:
- in a process whose Keras already runs on that backend (a machine without TensorFlow, or the
  worker below), the extractor's own Keras model *is* that backend's model: it runs in process,
  compiled by Keras (`predict_on_batch`: jitted on JAX, under no_grad on PyTorch);
- in a process whose Keras runs on TensorFlow, the base runs in a child process started with
  KERAS_BACKEND set (`extract.runtimes.keras_worker`: batches in, features out, over a pipe). The
  child builds the configuration itself and checks its weights' sha256 as any worker does. Its
  features on the run's first images are compared with TensorFlow's (the reference) before any
  is used: beyond `TOLERANCE` the run is refused in one line, like ONNX Runtime's conversion.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.runtimes import RuntimeUnavailable, missing_packages, package_versions

if TYPE_CHECKING:
    from extract.extractor import Extractor

TOLERANCE = 1e-3  # max |runtime - TF| / max |TF| on the check images (float32 compute): ONNX Runtime's
MIXED_TOLERANCE = 2e-2  # mixed_float16 on both sides: float16 rounding (10 bits) through the whole base
CHECK_IMAGES = 8


def tolerance(compute: str) -> float:
    return TOLERANCE if compute == "float32" else MIXED_TOLERANCE


def disagreement(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (inf when the reference is all zero: nothing would be proven)."""
    scale = float(np.abs(want).max()) if want.size else 0.0
    return float(np.abs(got - want).max()) / scale if scale > 0 else float("inf")


def keras_backend_now() -> str:
    from extract.devices import keras_backend

    return keras_backend()


class KerasBackendRuntime:
    """The base on Keras with `backend`; subclasses name the backend and its packages."""

    name = ""
    packages: tuple[str, ...] = ()
    extra = ""  # the pip extra that installs it

    def unavailable(self) -> str | None:
        return missing_packages(f"The {self.name} runtime", self.packages,
                                self.extra or "pip install " + " ".join(self.packages))

    def versions(self) -> dict[str, str]:
        return {"runtime": self.name, **package_versions(("keras", *self.packages))}

    def load(self, extractor: "Extractor", store: Path | None = None):
        reason = self.unavailable()
        if reason:
            raise RuntimeUnavailable(f"{reason}. Received: --runtime {self.name}")
        if keras_backend_now() == self.name:
            if extractor.config.weights_source == "none":
                raise RuntimeUnavailable(
                    f"--weights none is TensorFlow's seeded random init; Keras on {self.name} draws other numbers, "
                    f"which configuration {extractor.config.config_id} does not hold. Give a weights file (a base "
                    f"saved with save_weights, e.g. where TensorFlow is). Received: --runtime {self.name}")
            return InProcess(extractor)
        from extract.runtimes.keras_worker import worker_for

        return CheckedAgainstReference(worker_for(self.name, extractor), extractor, self.name)


class InProcess:
    """The extractor's own Keras model, compiled by Keras for this process's backend."""

    def __init__(self, extractor: "Extractor"):
        from extract import devices

        self.model = extractor.model
        self.device = devices.device_label()
        # Keras runs on this backend here: the model is the configuration's own, no TensorFlow to compare with
        self.checked = f"not compared: Keras runs on {devices.keras_backend()} in this process (no TensorFlow reference)"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(np.ascontiguousarray(images, np.float32)), np.float32)


class CheckedAgainstReference:
    """A child process's features, compared with the reference model's on the first images it gets."""

    def __init__(self, worker, extractor: "Extractor", name: str):
        self.worker, self.extractor, self.name = worker, extractor, name
        self.device = worker.device
        self.checked: str | None = None  # one line once checked: against what, how close

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, np.float32)
        features = self.worker.features(images)
        if self.checked is None:
            self.check(images[:CHECK_IMAGES], features[:CHECK_IMAGES])
        return features

    def check(self, images: np.ndarray, features: np.ndarray) -> float:
        """Refuse (one line) features that are not the reference's to the tolerance."""
        config = self.extractor.config
        want = np.asarray(self.extractor.model(images, training=False), np.float32)  # eager: nothing to trace
        if not float(np.abs(want).max()) > 0:  # e.g. a first batch of placeholders: probe images instead
            from extract.runtimes.onnx import probe_images

            images = probe_images(config.size, CHECK_IMAGES)
            features = self.worker.features(images)
            want = np.asarray(self.extractor.model(images, training=False), np.float32)
        gap = disagreement(features, want) if features.shape == want.shape else float("inf")
        allowed = tolerance(config.compute)
        if not gap <= allowed:
            raise RuntimeUnavailable(
                f"Keras on {self.name} ({self.device}) gives features of configuration {config.config_id} that "
                f"differ from TensorFlow's by {gap:.2g} of their scale (allowed {allowed:g}); refusing to use "
                f"them. Received: --runtime {self.name}")
        self.checked = f"against TensorFlow on the run's first {len(images)} images: {gap:.1e} of their scale"
        return gap

