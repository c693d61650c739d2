"""TensorFlow SavedModel (TF Serving, TF.js, TF Hub): two serving signatures, float32 and uint8.

Written with Keras 3's ExportArchive (the machinery under `Model.export(format="tf_saved_model")`)
so that a second, uint8 signature can sit beside `serving_default` and share its variables.
"""
from __future__ import annotations

from pathlib import Path

from heads.formats.common import ExportMeta, Predict, package_versions
from heads.formats.graph import INPUT_NAME, OUTPUT_NAME, serving_functions

NAME, FILE = "savedmodel", "saved_model"
ENTRIES = {"float32": "signature 'serving_default': image float32 (batch, {size}, {size}, 3) -> probabilities",
           "uint8": "signature 'serving_uint8': image uint8 (batch, {size}, {size}, 3) -> probabilities"}
PACKAGES = ("tensorflow",)
EMBEDDED = ""
PREDICT_NEEDS = "tensorflow"  # what predict.py needs beside Pillow and NumPy
PREDICT_LOADER = '''\
def load_model():
    import tensorflow as tf

    serve = tf.saved_model.load(str(HERE / "saved_model")).signatures["serving_default"]
    return lambda images: serve(image=tf.constant(images))["probabilities"].numpy()
'''  # predict.py's load_model(): float32 images -> probabilities


def require() -> None:
    """Nothing beyond the tool's own dependencies."""


def runtime() -> str:
    return f"tensorflow {package_versions(('tensorflow',)).get('tensorflow', '?')} (tf.saved_model.load)"


def write(model, path: Path, meta: ExportMeta) -> None:
    import keras

    functions = serving_functions(model, meta.input_size)
    archive = keras.export.ExportArchive()
    # No archive.track(model): the endpoints track the variables they use, and track() would save every
    # value a second time (Keras 3.15 keeps its own variables beside the TF ones: twice the size).
    for name, function in functions.items():
        archive.add_endpoint(name, function)
    archive.write_out(str(path), verbose=False)


def load(path: Path) -> dict[str, Predict]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))

    def runner(key: str) -> Predict:
        signature = loaded.signatures[key]
        return lambda images: signature(**{INPUT_NAME: tf.constant(images)})[OUTPUT_NAME].numpy()

    return {"float32": runner("serving_default"), "uint8": runner("serving_uint8")}
