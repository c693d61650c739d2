"""TensorFlow Lite (LiteRT): float32 model, fixed image size, two signatures (float32 and uint8).

Converted by TensorFlow's converter from a SavedModel with the same two signatures, with
TFLite's built-in ops only (no Flex delegate needed on a device), then given TFLite metadata
with the labels packed in (tflite_metadata.py: what Android's Task Library reads). Read back with the
LiteRT interpreter (ai-edge-litert; tf.lite.Interpreter is deprecated), or TensorFlow's
own when LiteRT is not installed.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from extract import cli_support
from heads.formats import savedmodel_format
from heads.formats.common import LABELS_FILE, ExportMeta, Predict, labels_text, package_versions
from heads.formats.graph import INPUT_NAME, OUTPUT_NAME
from heads.formats.tflite_metadata import metadata_buffer, with_metadata

NAME, FILE = "tflite", "model.tflite"
SIGNATURES = ("serving_default", "serving_uint8")
ENTRIES = {"float32": "signature 'serving_default': image float32 (batch, {size}, {size}, 3) -> probabilities",
           "uint8": "signature 'serving_uint8': image uint8 (batch, {size}, {size}, 3) -> probabilities"}
PACKAGES = ("tensorflow", "ai-edge-litert")
EMBEDDED = ("TFLite metadata (TFLite Support schema, image classifier layout): input RGB 0..255 (mean 0, std 1), "
            f"output probabilities with {LABELS_FILE} as axis labels, packed in the file")
PREDICT_NEEDS = "ai-edge-litert (or tensorflow)"  # what predict.py needs beside Pillow and NumPy
PREDICT_LOADER = '''\
def load_model():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own interpreter (deprecated)
        from tensorflow.lite import Interpreter

    runner = Interpreter(model_path=str(HERE / "model.tflite")).get_signature_runner("serving_default")
    return lambda images: runner(image=images)["probabilities"]
'''  # predict.py's load_model(): float32 images -> probabilities


def require() -> None:
    """TensorFlow converts; LiteRT or TensorFlow's interpreter reads back."""


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow"
    return Interpreter, "ai-edge-litert"


def runtime() -> str:
    _, package = _interpreter_class()
    return f"{package} {package_versions((package,)).get(package, '?')} (Interpreter signature runner)"


def write(model, path: Path, meta: ExportMeta) -> None:
    import tensorflow as tf

    scratch = path.with_name(f".{path.stem}_saved_model")
    try:
        savedmodel_format.write(model, scratch, meta)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(scratch), signature_keys=list(SIGNATURES))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converted = converter.convert()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    metadata = metadata_buffer(
        name=f"{meta.backbone} {meta.kind} classifier",
        description=f"Classifies an RGB image into {len(meta.class_names)} classes (head {meta.head_id}).",
        version=meta.head_id, labels_file=LABELS_FILE)
    path.write_bytes(with_metadata(converted, metadata, {LABELS_FILE: labels_text(meta).encode("utf-8")}))


def load(path: Path) -> dict[str, Predict]:
    interpreter_class, _ = _interpreter_class()
    with cli_support.native_logs_hidden():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter = interpreter_class(model_path=str(path))
        interpreter.allocate_tensors()

    def runner(key: str) -> Predict:
        signature = interpreter.get_signature_runner(key)
        return lambda images: signature(**{INPUT_NAME: images})[OUTPUT_NAME]

    return {"float32": runner("serving_default"), "uint8": runner("serving_uint8")}
