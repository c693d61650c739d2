"""Where a worker computes, and in what precision: GPU memory growth, the device label, the
compute-precision scope, for whichever Keras backend this process runs (TensorFlow, JAX, PyTorch).

Why scoped: the dtype policy and TensorFloat-32 are process-wide switches in Keras and
TensorFlow. Set for good, they change every model built or run afterwards in the same process
(a notebook's later heads, fine-tuning after extraction), so they are set for the extraction only
and restored.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import sys
from typing import Iterator

from extract.errors import ExtractError

# Mixed precision is for GPUs; on a CPU it is slow and gives other numbers. Tests (and anyone who
# wants to see the float16 numbers on a CPU) set this to 1 to allow it there.
ALLOW_CPU_MIXED_ENV = "BOTTLENECK_MIXED_PRECISION_ON_CPU"
KERAS_BACKENDS = ("jax", "torch")  # the runtimes that are Keras on another backend (extract.runtimes.keras_backend)


def node_name() -> str:
    return socket.gethostname()


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or hidden package: not usable here
        return False


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported here (found, not imported: cheap)."""
    return "tensorflow" in sys.modules or _installed("tensorflow")


def default_keras_backend() -> str | None:
    """On a machine without TensorFlow, Keras (whose default backend it is) would not import at all:
    there, unless the user chose (KERAS_BACKEND, or keras.json's "backend"), Keras runs on JAX, else on
    PyTorch. Must run before Keras is imported (`extract` does it first thing). Returns what it set.

    keras.json's backend is a choice only when that backend is installed: Keras writes the file on its
    first import with "tensorflow" in it even when KERAS_BACKEND says otherwise, so a machine without
    TensorFlow would run once and then fail on every later import."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND") or _installed("tensorflow"):
        return None
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            chosen = json.load(handle).get("backend")
        if isinstance(chosen, str) and chosen and _installed(chosen):
            return None
    except (OSError, ValueError, AttributeError):
        pass
    for name in ("jax", "torch"):
        if _installed(name):
            os.environ["KERAS_BACKEND"] = name
            return name
    return None


def keras_backend() -> str:
    """The backend Keras runs on in this process ("tensorflow", "jax", "torch"): fixed at its import."""
    import keras

    return keras.config.backend()


def tensorflow_unavailable() -> str | None:
    """Why TensorFlow cannot run the base in this process (one line), or None where Keras runs on it."""
    backend = keras_backend()
    if backend != "tensorflow":
        return f"Keras runs on {backend} in this process, not on TensorFlow: give --runtime {backend} (or auto)"
    return None


def backend_versions() -> dict[str, str]:
    """Keras and its backend's version, e.g. {"tensorflow": "2.21.0", "keras": "3.15.1"}."""
    import importlib

    import keras

    backend = keras_backend()  # its module is imported already (Keras imported it)
    return {backend: str(importlib.import_module(backend).__version__), "keras": keras.__version__}


def prepare_tensorflow() -> None:
    """Before TensorFlow allocates: grow GPU memory on demand instead of taking all of it, so
    several workers can share a GPU (fractional --gpus-per-worker). TF_FORCE_GPU_ALLOW_GROWTH=false
    in the environment keeps TensorFlow's own behaviour. A process whose Keras runs on another
    backend imports no TensorFlow for this (the variable still applies if something imports it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if keras_backend() != "tensorflow" and "tensorflow" not in sys.modules:
        return
    import tensorflow as tf

    if os.environ["TF_FORCE_GPU_ALLOW_GROWTH"].lower() != "true":
        return
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is already initialised in this process: too late, and already set
            pass


def gpus() -> list:
    """The GPUs this process's Keras backend sees."""
    backend = keras_backend()
    if backend == "jax":
        import jax

        return [device for device in jax.devices() if device.platform == "gpu"]
    if backend == "torch":
        import torch

        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def _gpu_name(first) -> str:
    backend = keras_backend()
    try:
        if backend == "jax":
            return str(getattr(first, "device_kind", ""))
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0)
        import tensorflow as tf

        return tf.config.experimental.get_device_details(first).get("device_name", "")
    except (RuntimeError, ValueError):
        return ""


def device_label() -> str:
    """The device this process computes on: "GPU:0 (its name)" or "CPU"."""
    visible = gpus()
    if not visible:
        return "CPU"
    name = _gpu_name(visible[0])
    more = f" (+{len(visible) - 1} more visible)" if len(visible) > 1 else ""
    return f"GPU:0{f' ({name})' if name else ''}{more}"


def check_compute_device(compute: str, runtime: str | None = None) -> None:
    """Mixed precision only where a GPU computes (or where explicitly allowed on a CPU).

    The GPU is the one the base runs on: this process's Keras backend, or, for `runtime` jax or torch
    where this process's Keras runs on TensorFlow, the child process that runs it (it asks its own
    backend, jax.devices() or torch.cuda, before building: extract.runtimes.keras_worker). TensorFlow
    is never asked for a GPU another library computes on."""
    if compute == "float32" or os.environ.get(ALLOW_CPU_MIXED_ENV) == "1":
        return
    backend = keras_backend()
    if runtime in KERAS_BACKENDS and runtime != backend:
        return  # checked in the child, by its own backend
    if gpus():
        return
    raise ExtractError(f"--mixed-precision computes on GPUs; node {node_name()} has none visible to {backend} "
                       f"(drop --mixed-precision for float32 on the CPU). Received: compute {compute}")


@contextlib.contextmanager
def compute_policy(compute: str) -> Iterator[None]:
    """Keras's dtype policy set to `compute` while layers are built inside, restored after."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(compute)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@contextlib.contextmanager
def exact_float32(compute: str) -> Iterator[None]:
    """float32 compute that is float32 on a GPU too: TensorFloat-32 (Ampere and later) rounds conv
    and matmul inputs to 10 mantissa bits, so features would depend on the GPU model. Restored after.
    On JAX that is matmul precision "highest"; on PyTorch its two allow_tf32 switches."""
    if compute != "float32":
        yield
        return
    backend = keras_backend()
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
        return
    if backend == "torch":
        with _torch_without_tf32():
            yield
        return
    import tensorflow as tf

    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)


@contextlib.contextmanager
def _torch_without_tf32() -> Iterator[None]:
    import torch

    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
