"""OpenVINO runs the frozen base on CPUs in float32 (issue 19): the fastest runtime measured on this
project's CPU (bench/README.md, "CPU runtimes, the base alone"), same numbers as TensorFlow.

The Keras feature model is exported to ONNX (as the onnxruntime runtime does) and converted by
OpenVINO's `convert_model` into its own files, once per configuration, kept in the store
(`configs/<id>/runtimes/openvino/`: `model.xml`, `model.bin` with weights kept float32, and
`converted.json` with both files' sha256 and the converters' versions). The CPU plugin compiles it
with float32 inference precision (never bf16, which this CPU would otherwise pick) and the
THROUGHPUT hint: a batch is split over the plugin's streams, run at once (measured 1.5x its one
stream on 2 cores). Before first use in a process its features are checked against TensorFlow's
exactly as ONNX Runtime's are (`extract.runtimes.onnx.CheckedSession`, the same tolerance).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.runtimes import RuntimeUnavailable, missing_packages, package_versions
from extract.runtimes import onnx
from extract.runtimes.onnx import CheckedSession, converted_dir, intra_op_threads, model_config_id
from store.integrity import file_sha256

if TYPE_CHECKING:
    from extract.extractor import Extractor

NAME = "openvino"
PACKAGES = ("openvino", "onnx", "tf2onnx")
XML, BIN, RECORD = "model.xml", "model.bin", "converted.json"


def openvino_dir(store: Path, config_id: str) -> Path:
    return converted_dir(store, config_id).parent / NAME


def to_openvino(extractor: "Extractor", folder: Path) -> None:
    """XML + BIN of the extractor's Keras model in `folder`, float32 weights (one line when it fails)."""
    import openvino

    with tempfile.TemporaryDirectory(prefix="openvino-base-") as work:
        onnx_file = Path(work) / "model.onnx"
        onnx.convert(extractor, onnx_file)  # one line of its own when the base does not export
        try:
            model = openvino.convert_model(str(onnx_file))
            openvino.save_model(model, str(folder / XML), compress_to_fp16=False)  # fp16 would change the numbers
        except Exception as error:  # OpenVINO raises its own kinds for an op it lacks
            raise RuntimeUnavailable(f"OpenVINO cannot convert the base of configuration "
                                     f"{extractor.config.config_id}: {' '.join(str(error).split())[:200]}. "
                                     f"Received: --runtime {NAME}") from None


class OpenVinoRuntime:
    name = NAME

    def unavailable(self) -> str | None:
        return missing_packages("The openvino runtime", PACKAGES, "pip install 'bottleneck-cache[int8]'")

    def versions(self) -> dict[str, str]:
        return {"runtime": self.name, **package_versions(PACKAGES)}

    def load(self, extractor: "Extractor", store: Path | None = None) -> "OpenVinoSession":
        reason = self.unavailable()
        if reason:
            raise RuntimeUnavailable(f"{reason}. Received: --runtime {NAME}")
        if store is None:  # nowhere to keep it: convert for this process only
            with tempfile.TemporaryDirectory(prefix="openvino-base-") as folder:
                to_openvino(extractor, Path(folder))
                sha256 = file_sha256(Path(folder) / XML)
                return OpenVinoSession(extractor, Path(folder), sha256, converted_here=True)
        folder, sha256, converted_here = self.converted(extractor, Path(store))
        return OpenVinoSession(extractor, folder, sha256, converted_here)

    def converted(self, extractor: "Extractor", store: Path) -> tuple[Path, str, bool]:
        """The store's converted base of this configuration, made once (staged) and checked by sha256:
        (its folder, its XML's sha256, whether this call converted it)."""
        from store.atomic import StagingError, staged_folder

        config_id = model_config_id(extractor.config)
        folder = openvino_dir(store, config_id)
        converted_here = False
        if not (folder / RECORD).is_file():
            try:
                with staged_folder(folder) as staging:
                    to_openvino(extractor, staging)
                    record = {"sha256": {name: file_sha256(staging / name) for name in (XML, BIN)},
                              "config_id": config_id,
                              "converter": package_versions(("keras", "tf2onnx", "onnx", "openvino", "tensorflow"))}
                    (staging / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")
                converted_here = True
            except StagingError:
                if not (folder / RECORD).is_file():  # not another process finishing first
                    raise
        try:
            record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
            expected = {name: str(record["sha256"][name]) for name in (XML, BIN)}
            actual = {name: file_sha256(folder / name) for name in (XML, BIN)}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RuntimeUnavailable(f"Unreadable OpenVINO base of configuration {extractor.config.config_id}: "
                                     f"{error}. Received: {folder}") from None
        if actual != expected:
            raise RuntimeUnavailable(f"The OpenVINO base of configuration {extractor.config.config_id} does not "
                                     f"match its recorded sha256; remove {folder} to convert again. "
                                     f"Received: {folder}")
        return folder, actual[XML], converted_here


class OpenVinoSession(CheckedSession):
    """The compiled base as `batch -> float32 features`, checked against TensorFlow before first use."""

    label = "OpenVINO"
    option = NAME

    def __init__(self, extractor: "Extractor", folder: Path, sha256: str, converted_here: bool):
        import openvino

        try:
            compiled = openvino.Core().compile_model(
                str(folder / XML), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32",
                                           "INFERENCE_NUM_THREADS": intra_op_threads()})
        except Exception as error:  # a damaged file that still matched, or an op this plugin lacks
            raise RuntimeUnavailable(f"OpenVINO cannot load the converted base: {' '.join(str(error).split())[:200]}."
                                     f" Received: {folder}") from None
        self.streams = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.queue = openvino.AsyncInferQueue(compiled, self.streams)
        self.queue.set_callback(self._done)
        self._outputs: dict[int, np.ndarray] = {}
        super().__init__(extractor, compiled, sha256, converted_here)

    def _input_name(self, session) -> str:
        return session.inputs[0].any_name

    def _done(self, request, index: int) -> None:
        self._outputs[index] = np.array(request.get_output_tensor(0).data, np.float32)

    def _run(self, images: np.ndarray) -> np.ndarray:
        """The batch split over the plugin's streams, run at once, joined back in order."""
        self._outputs.clear()
        chunks = [chunk for chunk in np.array_split(np.asarray(images, np.float32), self.streams) if len(chunk)]
        for index, chunk in enumerate(chunks):
            self.queue.start_async([np.ascontiguousarray(chunk)], index)
        self.queue.wait_all()
        return np.concatenate([self._outputs[index] for index in range(len(chunks))])

    def describe(self) -> str:
        made = "converted here" if self.converted_here else "read from the store"
        return f"{NAME} (model.xml sha256 {self.sha256[:12]}, {made}, {self.streams} streams)"
