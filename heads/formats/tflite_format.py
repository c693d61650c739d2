"""TensorFlow Lite (LiteRT): float32 model, fixed image size, two signatures (float32 and uint8).

Converted by TensorFlow's converter from a SavedModel with the same two signatures, with
TFLite's built-in ops only (no Flex delegate needed on a device). Read back with the
LiteRT interpreter (ai-edge-litert; tf.lite.Interpreter is deprecated), or TensorFlow's
own when LiteRT is not installed.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from heads.formats import savedmodel_format
from heads.formats.common import Predict, package_versions
from heads.formats.graph import INPUT_NAME, OUTPUT_NAME

NAME, FILE = "tflite", "model.tflite"
SIGNATURES = ("serving_default", "serving_uint8")
ENTRIES = {"float32": "signature 'serving_default': image float32 (batch, size, size, 3) -> probabilities",
           "uint8": "signature 'serving_uint8': image uint8 (batch, size, size, 3) -> probabilities"}


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


def write(model, path: Path, size: int) -> None:
    import tensorflow as tf

    scratch = path.with_name(f".{path.stem}_saved_model")
    try:
        savedmodel_format.write(model, scratch, size)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(scratch), signature_keys=list(SIGNATURES))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        path.write_bytes(converter.convert())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load(path: Path) -> dict[str, Predict]:
    interpreter_class, _ = _interpreter_class()
    interpreter = interpreter_class(model_path=str(path))

    def runner(key: str) -> Predict:
        signature = interpreter.get_signature_runner(key)
        return lambda images: signature(**{INPUT_NAME: images})[OUTPUT_NAME]

    return {"float32": runner("serving_default"), "uint8": runner("serving_uint8")}
