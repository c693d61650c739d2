"""`.keras`: the model as built, read back by plain `keras.models.load_model` (no custom objects)."""
from __future__ import annotations

from pathlib import Path

from heads.formats.common import ExportMeta, Predict, package_versions

NAME, FILE = "keras", "model.keras"
ENTRIES = {"float32": "model(images, training=False) or model.predict(images)",
           "uint8": "the same call: Keras casts a uint8 batch to the input's float32"}
PACKAGES = ("keras",)
EMBEDDED = ""
PREDICT_NEEDS = "keras (TensorFlow backend)"  # what predict.py needs beside Pillow and NumPy
PREDICT_LOADER = '''\
def load_model():
    import keras

    model = keras.models.load_model(HERE / "model.keras")
    return lambda images: keras.ops.convert_to_numpy(model(images, training=False))
'''  # predict.py's load_model(): float32 images -> probabilities


def require() -> None:
    """Nothing beyond the tool's own dependencies."""


def runtime() -> str:
    return f"keras {package_versions(('keras',)).get('keras', '?')} (keras.models.load_model)"


def write(model, path: Path, meta: ExportMeta) -> None:
    model.save(path)


def load(path: Path) -> dict[str, Predict]:
    import keras

    loaded = keras.models.load_model(path)

    def predict(images):
        # training=False explicitly: a Resizing layer would otherwise put BatchNormalization in training mode
        return keras.ops.convert_to_numpy(loaded(images, training=False))

    return {"float32": predict, "uint8": predict}
