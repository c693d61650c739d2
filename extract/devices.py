"""Where a worker computes, and in what precision: GPU memory growth, the device label, the
compute-precision scope.

Why scoped: the dtype policy and TensorFloat-32 are process-wide switches in Keras and
TensorFlow. Set for good, they change every model built or run afterwards in the same process
(a notebook's later heads, fine-tuning after extraction), so they are set for the extraction only
and restored.
"""
from __future__ import annotations

import contextlib
import os
import socket
from typing import Iterator

from extract.errors import ExtractError

# Mixed precision is for GPUs; on a CPU it is slow and gives other numbers. Tests (and anyone who
# wants to see the float16 numbers on a CPU) set this to 1 to allow it there.
ALLOW_CPU_MIXED_ENV = "BOTTLENECK_MIXED_PRECISION_ON_CPU"


def node_name() -> str:
    return socket.gethostname()


def prepare_tensorflow() -> None:
    """Before TensorFlow allocates: grow GPU memory on demand instead of taking all of it, so
    several workers can share a GPU (fractional --gpus-per-worker). TF_FORCE_GPU_ALLOW_GROWTH=false
    in the environment keeps TensorFlow's own behaviour."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    import tensorflow as tf

    if os.environ["TF_FORCE_GPU_ALLOW_GROWTH"].lower() != "true":
        return
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is already initialised in this process: too late, and already set
            pass


def gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def device_label() -> str:
    """The device this process computes on: "GPU:0 (its name)" or "CPU"."""
    import tensorflow as tf

    visible = gpus()
    if not visible:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(visible[0]).get("device_name", "")
    except (RuntimeError, ValueError):
        name = ""
    more = f" (+{len(visible) - 1} more visible)" if len(visible) > 1 else ""
    return f"GPU:0{f' ({name})' if name else ''}{more}"


def check_compute_device(compute: str) -> None:
    """Mixed precision only where a GPU computes (or where explicitly allowed on a CPU)."""
    if compute == "float32" or os.environ.get(ALLOW_CPU_MIXED_ENV) == "1" or gpus():
        return
    raise ExtractError(f"--mixed-precision computes on GPUs; node {node_name()} has none visible "
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
    and matmul inputs to 10 mantissa bits, so features would depend on the GPU model. Restored after."""
    import tensorflow as tf

    if compute != "float32":
        yield
        return
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)
