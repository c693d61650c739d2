"""ONNX Runtime runs the frozen base on CPUs (issue 19): faster than TensorFlow there, same numbers.

The Keras feature model is converted once per configuration by Keras 3's own
`Model.export(format="onnx")` (tf2onnx underneath) and, when the run has a store, kept there
(`configs/<id>/runtimes/onnxruntime/`, with its sha256 and the converter's versions) so the
conversion is paid once. Before first use in a process the converted model is checked against
TensorFlow on the first images it is given (the run's own: the driver passes a few decoded images
of the run, a worker its first batch); beyond `TOLERANCE` it is refused in one line, never used.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from extract.runtimes import RuntimeUnavailable, missing_packages, package_versions
from store.integrity import file_sha256

if TYPE_CHECKING:
    from extract.extractor import Extractor

PACKAGES = ("onnxruntime", "onnx", "tf2onnx")
MODEL_FILE, RECORD_FILE = "model.onnx", "converted.json"
TOLERANCE = 1e-3  # max |ORT - TF| / max |TF| on the check images
CHECK_IMAGES = 8  # the first images a process gives the converted base: TensorFlow computes them too


def intra_op_threads() -> int:
    """The cores this process may use (its affinity, which Ray's --cpus-per-worker narrows), less those
    the default decode workers take (extract.feeder): decoding and the base never oversubscribe them."""
    from extract.feeder import available_cores, default_decode_workers

    cores = available_cores()
    return max(1, cores - default_decode_workers(cores))


def model_config_id(config) -> str:
    """The configuration whose folder keeps the converted base: augmentation views of a configuration
    run the same base on other pixels (extract.pipeline), so they share the plain one's conversion."""
    return dataclasses.replace(config, augment=None).config_id


def converted_dir(store: Path, config_id: str) -> Path:
    from store.layout import StoreLayout

    return StoreLayout(Path(store)).config_dir(config_id) / "runtimes" / "onnxruntime"


def convert(extractor: "Extractor", path: Path) -> None:
    """The extractor's Keras model as an ONNX file at `path` (one line when it does not convert)."""
    import tensorflow as tf

    size = extractor.config.size
    log = logging.getLogger("tf2onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # its INFO lines are conversion chatter
    try:
        with warnings.catch_warnings():  # Keras' numpy-2 patch of tf2onnx probes np.object
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            extractor.model.export(str(path), format="onnx", verbose=False,
                                   input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="image")])
    except Exception as error:  # tf2onnx raises bare exceptions for ops it lacks
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise RuntimeUnavailable(f"The base of configuration {extractor.config.config_id} does not convert to "
                                 f"ONNX: {detail}. Received: --runtime onnxruntime") from None
    finally:
        log.setLevel(level)


def probe_images(size: int, count: int = CHECK_IMAGES) -> np.ndarray:
    """Smooth gradients plus noise in 0..255: images with structure, reproducible everywhere (the check's
    fallback when the run's images give all-zero features, which would prove nothing)."""
    rng = np.random.default_rng(19)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = (ramp[None, :, None] + ramp[:, None, None]) / 2
    noise = rng.uniform(-60, 60, (count, size, size, 3)).astype(np.float32)
    return np.clip(base[None] + noise, 0, 255).astype(np.float32)


def disagreement(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (inf when the reference is all zero: nothing would be proven)."""
    scale = float(np.abs(want).max())
    return float(np.abs(got - want).max()) / scale if scale > 0 else float("inf")


class OnnxRuntime:
    name = "onnxruntime"

    def unavailable(self) -> str | None:
        return missing_packages("The onnxruntime runtime", PACKAGES, "pip install 'bottleneck-cache[export]'")

    def versions(self) -> dict[str, str]:
        return {"runtime": self.name, **package_versions(PACKAGES)}

    def load(self, extractor: "Extractor", store: Path | None = None) -> "CheckedSession":
        reason = self.unavailable()
        if reason:
            raise RuntimeUnavailable(f"{reason}. Received: --runtime onnxruntime")
        if store is None:  # nowhere to keep it: convert for this process only
            with tempfile.TemporaryDirectory(prefix="onnx-base-") as folder:
                path = Path(folder) / MODEL_FILE
                convert(extractor, path)
                return CheckedSession(extractor, self._session(path), file_sha256(path), converted_here=True)
        path, sha256, converted_here = self.converted(extractor, Path(store))
        return CheckedSession(extractor, self._session(path), sha256, converted_here)

    def converted(self, extractor: "Extractor", store: Path) -> tuple[Path, str, bool]:
        """The store's converted model of this configuration, made once (staged) and checked by sha256:
        (its path, its sha256, whether this call converted it; False: another run, process or worker had)."""
        from store.atomic import StagingError, staged_folder

        folder = converted_dir(store, model_config_id(extractor.config))
        converted_here = False
        if not (folder / RECORD_FILE).is_file():
            try:
                with staged_folder(folder) as staging:
                    convert(extractor, staging / MODEL_FILE)
                    record = {"sha256": file_sha256(staging / MODEL_FILE), "config_id": model_config_id(extractor.config),
                              "converter": package_versions(("keras", "tf2onnx", "onnx", "tensorflow")),
                              "runtime": package_versions(("onnxruntime",))}
                    (staging / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
                converted_here = True
            except StagingError:
                if not (folder / RECORD_FILE).is_file():  # not another process finishing first
                    raise
        model = folder / MODEL_FILE
        try:
            record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
            expected = str(record["sha256"])
            actual = file_sha256(model)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RuntimeUnavailable(f"Unreadable converted base of configuration {extractor.config.config_id}: "
                                     f"{error}. Received: {folder}") from None
        if actual != expected:
            raise RuntimeUnavailable(f"The converted base of configuration {extractor.config.config_id} does not "
                                     f"match its recorded sha256 ({actual[:12]} vs {expected[:12]}); remove "
                                     f"{folder} to convert again. Received: {model}")
        return model, actual, converted_here

    @staticmethod
    def _session(path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads()
        options.inter_op_num_threads = 1
        # No spin-waiting between batches: the decoding threads need those cores then.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise RuntimeUnavailable(f"ONNX Runtime cannot load the converted base: "
                                     f"{' '.join(str(error).split())[:200]}. Received: {path}") from None


class CheckedSession:
    """The converted base as `batch -> float32 features`, checked against TensorFlow on the first
    images it is given before any of its features is used (`agreement` records that check). Other
    runtimes checked the same way (extract.runtimes.openvino) subclass it: `label`, `option`, `_run`."""

    label, option = "ONNX Runtime", "onnxruntime"  # in its one-line refusals

    def __init__(self, extractor: "Extractor", session, sha256: str, converted_here: bool):
        self.extractor, self.session, self.sha256 = extractor, session, sha256
        self.converted_here = converted_here  # False: read from the store, converted by another run or process
        self.input_name = self._input_name(session)
        self.agreement: dict | None = None

    def _input_name(self, session) -> str:
        return session.get_inputs()[0].name

    def _run(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.input_name: np.ascontiguousarray(images, np.float32)})[0],
                          np.float32)

    def check(self, images: np.ndarray) -> dict:
        """Refuse (one line) when the features of the first `CHECK_IMAGES` of `images` are not
        TensorFlow's to `TOLERANCE`; all-zero reference features prove nothing, so fixed probe
        images are checked then instead."""
        config = self.extractor.config
        sample, on = np.asarray(images[:CHECK_IMAGES], np.float32), "the run's images"
        want = np.asarray(self.extractor.model(sample, training=False), np.float32)  # eager: no tracing to pay
        if not np.abs(want).max() > 0:
            sample, on = probe_images(config.size), "probe images (the run's gave all-zero features)"
            want = np.asarray(self.extractor.model(sample, training=False), np.float32)
        got = self._run(sample)
        gap = disagreement(got, want) if got.shape == want.shape else float("inf")
        if not gap <= TOLERANCE:
            raise RuntimeUnavailable(
                f"{self.label}'s features of configuration {config.config_id} differ from TensorFlow's by "
                f"{gap:.2g} of their scale on {len(sample)} of {on} (allowed {TOLERANCE:g}); refusing to use "
                f"them. Received: --runtime {self.option}")
        self.agreement = {"images": len(sample), "on": on, "max_difference": gap, "tolerance": TOLERANCE,
                          "model_sha256": self.sha256}
        return self.agreement

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if self.agreement is None:
            self.check(images)
        return self._run(images)

    def describe(self) -> str:
        """One line for a worker's report: which converted file computed its features, and where it came from."""
        made = "converted here" if self.converted_here else "read from the store"
        return f"onnxruntime (model.onnx sha256 {self.sha256[:12]}, {made})"
