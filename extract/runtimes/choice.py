"""Which runtime a run uses: `auto` picks ONNX Runtime on a CPU when it pays, TensorFlow otherwise,
and Keras's own backend (jax, torch) in a process whose Keras does not run on TensorFlow.

Converting a base to ONNX costs seconds (more for big bases), so `auto` takes ONNX Runtime only
when the run has enough images to earn that back, or when the store already holds the
conversion. On a GPU TensorFlow stays: its kernels there are the fast path.
"""
from __future__ import annotations

from pathlib import Path

from extract.errors import OptionError
from extract.runtimes import RUNTIMES, get_runtime

AUTO = "auto"
AUTO_MIN_IMAGES = 256  # below this, conversion (a few seconds) costs more than ONNX Runtime saves
CHOICES = (AUTO, *RUNTIMES)


def check_runtime_name(name: str) -> str:
    if name != AUTO and name not in RUNTIMES:
        raise OptionError(f"Unknown runtime {name!r}. Allowed: {', '.join((AUTO, *RUNTIMES))}. "
                          f"Received: --runtime {name}")
    return name


def choose_runtime(requested: str, images: int, store: Path | None, config_id: str,
                   on_gpu: bool = False) -> str:
    """The runtime name for a run of `images` images (`requested` unless it is `auto`)."""
    check_runtime_name(requested)
    if requested != AUTO:
        return requested
    from extract.devices import keras_backend

    backend = keras_backend()
    if backend != "tensorflow":  # no TensorFlow here (extract.devices): Keras's own backend, in process
        return backend
    if on_gpu or get_runtime("onnxruntime").unavailable():
        return "tensorflow"
    from extract.runtimes.onnx import RECORD_FILE, converted_dir

    converted = store is not None and (converted_dir(store, config_id) / RECORD_FILE).is_file()
    return "onnxruntime" if converted or images >= AUTO_MIN_IMAGES else "tensorflow"
