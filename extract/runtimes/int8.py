"""An int8 base on CPUs (issue 19, `--quantize int8`): OpenVINO with NNCF's post-training quantisation.

Of the libraries measured on this project's CPU (AVX2, no VNNI), OpenVINO + NNCF kept the features
closest to TensorFlow's; ONNX Runtime's static QDQ quantisation broke them (cosine 0.34-0.78). An
int8 base gives other numbers, so it is a configuration of its own (`quantize` in the identity),
never a runtime choice under a float id. Its base is made once per configuration, in the store
(`configs/<id>/runtimes/openvino-int8/`: the Keras model exported to ONNX, read by OpenVINO,
quantised by NNCF on calibration images drawn from the dataset's train split; the files' sha256,
the calibration images' content hashes and the versions recorded), and only ever read after that:
the features under the id all come from that one file. Before first use in a process, its features
on the first images it is given are compared with TensorFlow's float ones; below `MIN_COSINE` it
is refused in one line.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.runtimes import INT8_RUNTIME, RuntimeUnavailable, missing_packages, package_versions
from extract.runtimes.onnx import CHECK_IMAGES, convert, converted_dir, intra_op_threads, model_config_id
from store.integrity import file_sha256

if TYPE_CHECKING:
    from extract.extractor import Extractor

PACKAGES = ("openvino", "nncf", "onnx", "tf2onnx")
XML, BIN, RECORD = "model.xml", "model.bin", "quantized.json"
CALIBRATION_IMAGES = 64  # of the train split, by content hash: a sample fixed by the data, not by file names
MIN_COSINE = 0.95  # per image, int8 features against TensorFlow's float ones on the check images


def quantized_dir(store: Path, config_id: str) -> Path:
    return converted_dir(store, config_id).parent / INT8_RUNTIME


def calibration_sample(entries: list[tuple[str, str]], count: int = CALIBRATION_IMAGES) -> list[tuple[str, str]]:
    """(path, content hash) of the train images to calibrate on: the `count` smallest content hashes,
    so the sample depends on the images alone (not on their names or order)."""
    return sorted(entries, key=lambda item: item[1])[:count]


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    got, want = got.reshape(len(got), -1).astype(np.float64), want.reshape(len(want), -1).astype(np.float64)
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1)
    same_zero = (norms == 0) & ~got.any(axis=1) & ~want.any(axis=1)
    return np.where(same_zero, 1.0, (got * want).sum(1) / np.where(norms == 0, 1.0, norms))


def quantize(extractor: "Extractor", images: np.ndarray, folder: Path) -> None:
    """XML + BIN of the extractor's base quantised to int8 on `images` (calibration), in `folder`."""
    import nncf
    import openvino

    nncf.set_log_level(logging.ERROR)  # its progress bars are calibration chatter
    with tempfile.TemporaryDirectory(prefix="int8-base-") as work:
        convert(extractor, Path(work) / "model.onnx")
        model = openvino.convert_model(str(Path(work) / "model.onnx"))
        try:  # its progress bars (rich, on stdout) would break the CLI's own: kept out
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                quantized = nncf.quantize(model, nncf.Dataset(list(images), lambda image: image[None]),
                                          subset_size=len(images))
        except Exception as error:  # nncf raises many kinds for a graph it cannot handle
            raise RuntimeUnavailable(f"NNCF cannot quantise the base of configuration {extractor.config.config_id}: "
                                     f"{' '.join(str(error).split())[:200]}. Received: --quantize int8") from None
        openvino.save_model(quantized, str(folder / XML))


class Int8Runtime:
    name = INT8_RUNTIME

    def unavailable(self) -> str | None:
        return missing_packages("--quantize int8", PACKAGES, "pip install 'bottleneck-cache[int8]'")

    def versions(self) -> dict[str, str]:
        return {"runtime": self.name, **package_versions(PACKAGES)}

    def load(self, extractor: "Extractor", store: Path | None = None) -> "Int8Session":
        reason = self.unavailable()
        if reason:
            raise RuntimeUnavailable(f"{reason}. Received: --quantize int8")
        config_id = extractor.config.config_id
        if store is None:
            raise RuntimeUnavailable(f"The int8 base of configuration {config_id} lives in its store (made by "
                                     f"`extract run --quantize int8` there); none was given.")
        folder = quantized_dir(Path(store), model_config_id(extractor.config))  # views share the plain one's
        if not (folder / RECORD).is_file():
            self.make(extractor, Path(store), folder)
        try:
            record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
            actual = {name: file_sha256(folder / name) for name in (XML, BIN)}
            expected = {name: str(record["sha256"][name]) for name in (XML, BIN)}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RuntimeUnavailable(f"Unreadable int8 base of configuration {config_id}: {error}. "
                                     f"Received: {folder}") from None
        if actual != expected:
            raise RuntimeUnavailable(f"The int8 base of configuration {config_id} does not match its recorded sha256 "
                                     f"(damaged or replaced); its features came from the recorded one: remove the "
                                     f"configuration (extract rm) to quantise again. Received: {folder}")
        return Int8Session(extractor, folder, record)

    def make(self, extractor: "Extractor", store: Path, folder: Path) -> None:
        """Quantise on the calibration images the driver drew (extractor.calibration), staged, once."""
        from store.atomic import StagingError, staged_folder
        from store.layout import StoreLayout

        config_id = extractor.config.config_id
        shards = StoreLayout(store).shards_dir(config_id)
        if shards.is_dir() and any(shards.glob("shard-*")):  # features exist: only their own base may add to them
            raise RuntimeUnavailable(f"Configuration {config_id} holds int8 features but its int8 base is gone from "
                                     f"{folder}; quantising again could give other numbers under the same id. "
                                     f"Remove the configuration (extract rm) to start over.")
        sample = getattr(extractor, "calibration", None)
        if not sample:
            raise RuntimeUnavailable(f"The int8 base of configuration {config_id} is not in the store yet: it is made "
                                     f"by `extract run --quantize int8` on a dataset with a train split.")
        images, _, reasons = extractor.load_images([path for path, _ in sample])
        usable = [i for i, reason in enumerate(reasons) if not reason]
        try:
            with staged_folder(folder) as staging:
                quantize(extractor, images[usable], staging)
                record = {"config_id": config_id, "sha256": {name: file_sha256(staging / name) for name in (XML, BIN)},
                          "calibration": {"split": "train", "rule": "smallest content hashes",
                                          "hashes": [sample[i][1] for i in usable]},
                          "versions": package_versions(("openvino", "nncf", "keras", "tf2onnx", "onnx", "tensorflow"))}
                (staging / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")
        except StagingError:
            if not (folder / RECORD).is_file():  # not another process finishing first
                raise


class Int8Session:
    """The int8 base as `batch -> float32 features`, checked against TensorFlow's float features on the
    first images it is given (`agreement` records the check)."""

    def __init__(self, extractor: "Extractor", folder: Path, record: dict):
        import openvino

        self.extractor, self.record = extractor, record
        self.compiled = openvino.Core().compile_model(
            str(folder / XML), "CPU", {"INFERENCE_NUM_THREADS": intra_op_threads(),
                                       "INFERENCE_PRECISION_HINT": "f32"})  # what is not int8 stays float32
        self.agreement: dict | None = None

    def _run(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.compiled(np.ascontiguousarray(images, np.float32))[0], np.float32)

    def check(self, images: np.ndarray) -> dict:
        config = self.extractor.config
        sample = np.asarray(images[:CHECK_IMAGES], np.float32)
        want = np.asarray(self.extractor.model(sample, training=False), np.float32)
        got = self._run(sample)
        worst = float(cosines(got, want).min()) if got.shape == want.shape else -1.0
        if not worst >= MIN_COSINE:
            raise RuntimeUnavailable(f"The int8 base of configuration {config.config_id} gives features at cosine "
                                     f"{worst:.3f} of TensorFlow's float ones on {len(sample)} images (allowed "
                                     f">= {MIN_COSINE}); refusing to use it. Received: --quantize int8")
        self.agreement = {"images": len(sample), "min_cosine": round(worst, 5), "allowed": MIN_COSINE,
                          "model_sha256": self.record["sha256"][XML]}
        return self.agreement

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self.agreement is None:
            self.check(images)
        return self._run(images)

    def describe(self) -> str:
        return f"{INT8_RUNTIME} (model.xml sha256 {self.record['sha256'][XML][:12]})"
