"""`.keras`: the model as built, read back by `keras.models.load_model`.

Built-in Keras layers only, except for heads that are no stack of them (knn): their layers
(heads.kinds.layers, Keras and NumPy only) are shipped beside the model as bottleneck_layers.py,
which registers them when imported; predict.py imports it before loading.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from heads.formats.common import ExportMeta, Predict, package_versions

NAME, FILE = "keras", "model.keras"
ENTRIES = {"float32": "model(images, training=False) or model.predict(images)",
           "uint8": "the same call: Keras casts a uint8 batch to the input's float32"}
PACKAGES = ("keras",)
EMBEDDED = ""
PREDICT_NEEDS = "keras (TensorFlow backend)"  # what predict.py needs beside Pillow and NumPy
LAYERS_FILE = "bottleneck_layers.py"
PREDICT_LOADER = '''\
def load_model():
    import keras

    if (HERE / "bottleneck_layers.py").is_file():
        import bottleneck_layers  # noqa: F401  (registers the tool's own layers this model holds)
    model = keras.models.load_model(HERE / "model.keras")
    return lambda images: keras.ops.convert_to_numpy(model(images, training=False))
'''  # predict.py's load_model(): float32 images -> probabilities


def require() -> None:
    """Nothing beyond the tool's own dependencies."""


def runtime() -> str:
    return f"keras {package_versions(('keras',)).get('keras', '?')} (keras.models.load_model)"


def _own_layers(model) -> bool:
    """Whether the model (or a sub-model) holds a layer of heads.kinds.layers."""
    from heads.kinds import layers

    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if type(layer).__module__ == layers.__name__:
            return True
        stack.extend(getattr(layer, "layers", []))
    return False


def write(model, path: Path, meta: ExportMeta) -> None:
    model.save(path)
    if _own_layers(model):
        from heads.kinds import layers

        shutil.copyfile(layers.__file__, path.parent / LAYERS_FILE)


def load(path: Path) -> dict[str, Predict]:
    import keras

    loaded = keras.models.load_model(path)

    def predict(images):
        # training=False explicitly: a Resizing layer would otherwise put BatchNormalization in training mode
        return keras.ops.convert_to_numpy(loaded(images, training=False))

    return {"float32": predict, "uint8": predict}
