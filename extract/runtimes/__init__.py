"""Runtimes: what runs the frozen base of a configuration on a batch of images.

A runtime takes a built `Extractor` (its configuration, resolved weights, backbone and the
Keras model that defines the numbers) and returns `batch -> float32 features`. The
configuration id never depends on the runtime: a runtime must give the same numbers to float
precision, and the run record names the runtime that computed them. Adding a runtime is one
module here with a class that follows `Runtime`, registered in `RUNTIMES`.

A runtime whose numbers must be checked against TensorFlow returns a callable that also has
`agreement` (None until checked), `check(images)` (refuses in one line) and `describe()` (one
line for the run record): it checks itself on the first batch it is given, and
`extract.runtimes.choice.ready_runtime` gives it a few of the run's images first.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from extract.errors import OptionError
from extract.runtimes.names import DEFAULT_RUNTIME, INT8_RUNTIME, RUNTIMES  # noqa: F401  (read from here too)

if TYPE_CHECKING:  # the extractor imports this package; no cycle at run time
    from extract.extractor import Extractor

Infer = Callable[[np.ndarray], np.ndarray]  # (n, size, size, 3) float32 RGB 0..255 -> (n, *feature_shape) float32


class RuntimeUnavailable(OptionError):
    """The runtime cannot run here (its library is missing, or the model does not convert)."""


class Runtime(Protocol):
    name: str

    def unavailable(self) -> str | None:
        """Why this runtime cannot run in this process (one line), or None when it can."""

    def load(self, extractor: "Extractor", store: Path | None = None) -> Infer:
        """The extractor's base as `batch -> float32 features` (numpy in, numpy out).

        `store` is the feature store the run writes to, where a runtime may keep what it
        derives from the base (a converted model) so that it is paid once per configuration.
        """

    def versions(self) -> dict[str, str]:
        """Library versions that computed the features, for the run record."""


def package_versions(names) -> dict[str, str]:
    """Installed version of each package ("missing" when absent): what a runtime records with its numbers."""
    import importlib.metadata

    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def missing_packages(what: str, packages, install: str) -> str | None:
    """One line when any of `packages` is not installed (`what` needs them; `install` says how), else None."""
    import importlib.util

    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return f"{what} needs {', '.join(packages)} ({install}); missing: {', '.join(missing)}"
    return None


def _tensorflow() -> Runtime:
    from extract.runtimes.tensorflow import TensorFlowRuntime

    return TensorFlowRuntime()


def _onnxruntime() -> Runtime:
    from extract.runtimes.onnx import OnnxRuntime

    return OnnxRuntime()


def _openvino() -> Runtime:
    from extract.runtimes.openvino import OpenVinoRuntime

    return OpenVinoRuntime()


def _int8() -> Runtime:
    from extract.runtimes.int8 import Int8Runtime

    return Int8Runtime()


def _jax() -> Runtime:
    from extract.runtimes.jax import JaxRuntime

    return JaxRuntime()


def _torch() -> Runtime:
    from extract.runtimes.torch import TorchRuntime

    return TorchRuntime()


# The registry lives in the leaf extract.runtimes.names (options check names there); filled here.
RUNTIMES.update({"tensorflow": _tensorflow, "onnxruntime": _onnxruntime, "openvino": _openvino, "jax": _jax,
                 "torch": _torch})
QUANTIZED: dict[str, Callable[[], Runtime]] = {INT8_RUNTIME: _int8}


def runtime_names() -> tuple[str, ...]:
    return tuple(RUNTIMES)


def get_runtime(name: str) -> Runtime:
    """The runtime called `name`; one line naming the allowed ones otherwise."""
    factory = RUNTIMES.get(name) or QUANTIZED.get(name)
    if factory is None:
        raise OptionError(f"Unknown runtime {name!r}. Allowed: {', '.join(RUNTIMES)}")
    return factory()


def register_runtime(name: str, factory: Callable[[], Runtime]) -> None:
    """Make a runtime choosable by name (its module registers itself here)."""
    RUNTIMES[name] = factory
