"""TensorFlow runs the Keras feature model as one compiled function (XLA when the extractor asks)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.runtimes import Infer

if TYPE_CHECKING:
    from extract.extractor import Extractor


def compile_inference(model, xla: bool):
    """`images -> float32 features` as one compiled TensorFlow function (XLA when `xla`)."""
    import tensorflow as tf

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def infer(images):
        return tf.cast(model(images, training=False), tf.float32)

    return infer


class TensorFlowRuntime:
    """The reference runtime: the numbers every other runtime is checked against."""

    name = "tensorflow"

    def unavailable(self) -> str | None:
        """None where Keras runs on TensorFlow (a core dependency). A process whose Keras runs on
        another backend (a machine without TensorFlow) cannot run it."""
        from extract.devices import tensorflow_unavailable

        return tensorflow_unavailable()

    def load(self, extractor: "Extractor", store: Path | None = None) -> Infer:
        reason = self.unavailable()
        if reason:
            from extract.runtimes import RuntimeUnavailable

            raise RuntimeUnavailable(f"{reason}. Received: --runtime tensorflow")
        compiled = compile_inference(extractor.model, extractor.xla)

        def infer(images: np.ndarray) -> np.ndarray:
            return np.asarray(compiled(images), np.float32)

        return infer

    def versions(self) -> dict[str, str]:
        import keras
        import tensorflow as tf

        return {"runtime": self.name, "tensorflow": tf.__version__, "keras": keras.__version__}
