"""Which runtime a run uses: `auto` picks a converted CPU runtime (OpenVINO, else ONNX Runtime) on a
CPU when it pays, TensorFlow otherwise, and Keras's own backend (jax, torch) in a process whose Keras
does not run on TensorFlow.

Converting a base costs seconds (more for big bases), so `auto` takes a converted runtime only
when the run has enough images to earn that back, or when the store already holds the
conversion (of either). On a GPU TensorFlow stays: its kernels there are the fast path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from extract.errors import OptionError
from extract.runtimes import get_runtime
from extract.runtimes.names import AUTO, check_runtime_name, runtime_choices

AUTO_MIN_IMAGES = 256  # below this, conversion (a few seconds) costs more than a CPU runtime saves
# converted CPU runtimes `auto` may take, fastest measured first (bench/README.md, "CPU runtimes")
CPU_RUNTIMES = ("openvino", "onnxruntime")
CHOICES = runtime_choices()  # the CLIs' --runtime choices (at their import: the built-in runtimes)


def choose_runtime(requested: str, images: int, store: Path | None, config_id: str,
                   on_gpu: bool = False) -> str:
    """The runtime name for a run of `images` images (`requested` unless it is `auto`); `config_id` is
    the one whose folder would keep a conversion (extract.runtimes.onnx.model_config_id)."""
    check_runtime_name(requested)
    if requested != AUTO:
        return requested
    from extract.devices import keras_backend

    backend = keras_backend()
    if backend != "tensorflow":  # no TensorFlow here (extract.devices): Keras's own backend, in process
        return backend
    available = [] if on_gpu else [name for name in CPU_RUNTIMES if not get_runtime(name).unavailable()]
    from extract.runtimes.onnx import RECORD_FILE, converted_dir

    for name in available:  # a conversion the store already holds costs nothing more
        if store is not None and (converted_dir(store, config_id).parent / name / RECORD_FILE).is_file():
            return name
    return available[0] if available and images >= AUTO_MIN_IMAGES else "tensorflow"


def sample_images(extractor, paths: list[str], count: int, look_at: int = 32) -> np.ndarray:
    """Up to `count` of the run's own images, decoded and resized as the run will (unreadable files
    skipped, among the first `look_at`): what a converted base is checked against TensorFlow on."""
    images, _, reasons = extractor.load_images(paths[:look_at], batch_size=min(look_at, max(1, len(paths))))
    return images[[i for i, reason in enumerate(reasons) if not reason][:count]]


def ready_runtime(extractor, store: Path | None, requested: str, paths: list[str]) -> tuple[str, str | None]:
    """Choose the runtime for work on `paths` and load it into `extractor` before any of it, checked on a
    few of those images: a conversion is made (and checked) once, here, and `auto` falls back to
    TensorFlow with one line (the second item) when the chosen runtime cannot be used.

    Parameters
    ----------
    extractor : extract.Extractor
        Built; its runtime and store are set here.
    store : Path or None
        Where a converted base is kept (None: converted for this process only).
    requested : str
        auto or one of extract.runtimes.RUNTIMES.
    paths : list of str
        The image files the work will compute (their first readable ones are the check's images).

    Returns
    -------
    (str, str or None)
        The runtime used, and the line saying why `auto` fell back (None when it did not).
    """
    from extract import devices
    from extract.runtimes import RuntimeUnavailable
    from extract.runtimes import INT8_RUNTIME
    from extract.runtimes.onnx import CHECK_IMAGES, model_config_id

    if extractor.config.quantize:  # its numbers are its int8 base's: no choice, no fallback
        if requested in CPU_RUNTIMES:
            raise OptionError(f"--quantize int8 runs its own int8 base (OpenVINO); --runtime does not apply. "
                              f"Received: --runtime {requested}")
        requested = INT8_RUNTIME
    name = requested if requested == INT8_RUNTIME else choose_runtime(requested, len(paths), store, model_config_id(extractor.config), bool(devices.gpus()))
    if extractor._infer is not None and (name != extractor.runtime or extractor.runtime_store != store):
        extractor._infer = None  # loaded for another runtime or store (a reused extractor)
    extractor.runtime, extractor.runtime_store = name, Path(store) if store is not None else None
    if name == "tensorflow":
        return name, None
    try:
        infer = extractor.infer  # convert or reuse (its sha256 checked)
        if getattr(infer, "agreement", True) is None:  # not checked yet: on the run's own images
            sample = sample_images(extractor, paths, CHECK_IMAGES)
            if len(sample):
                with devices.exact_float32(extractor.config.compute):
                    infer.check(sample)
    except RuntimeUnavailable as error:
        if requested != AUTO or name == INT8_RUNTIME:
            raise
        extractor._infer, extractor.runtime = None, "tensorflow"
        return "tensorflow", f"{error} Computing with TensorFlow instead."
    return name, None
