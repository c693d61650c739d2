"""ONNX: Keras 3's `Model.export(format="onnx")` (tf2onnx underneath), read back by onnxruntime.

One float32 input `image` (batch, size, size, 3) and one output `probabilities`; ONNX has no
second signature, so a deployer with uint8 images casts them to float32 first.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

from heads.errors import HeadError
from heads.formats.common import ExportMeta, Predict, package_versions
from heads.formats.graph import INPUT_NAME, OUTPUT_NAME, image_spec, inference_model

NAME, FILE = "onnx", "model.onnx"
ENTRIES = {"float32": "input 'image' float32 (batch, {size}, {size}, 3) -> output 'probabilities'",
           "uint8": "none: cast uint8 images to float32 (same 0..255 values) before the call"}
PACKAGES = ("tf2onnx", "onnx", "onnxruntime")
EMBEDDED = ""
PREDICT_NEEDS = "onnxruntime"  # what predict.py needs beside Pillow and NumPy
PREDICT_LOADER = '''\
def load_model():
    import onnxruntime

    session = onnxruntime.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])
    return lambda images: session.run(["probabilities"], {"image": images})[0]
'''  # predict.py's load_model(): float32 images -> probabilities


def require() -> None:
    missing = [name for name in PACKAGES if name not in package_versions(PACKAGES)]
    if missing:
        raise HeadError(f"The onnx format needs {', '.join(PACKAGES)}: pip install 'bottleneck-cache[export]'. "
                        f"Received: fmt='onnx' without {', '.join(missing)}")


def runtime() -> str:
    return f"onnxruntime {package_versions(('onnxruntime',)).get('onnxruntime', '?')} (InferenceSession, CPU)"


def _name_io(path: Path) -> None:
    """Name the output `probabilities` and the batch dimension `batch` (tf2onnx says Identity:0, unk__N)."""
    import onnx

    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [OUTPUT_NAME if name == old else name for name in node.output]
        node.input[:] = [OUTPUT_NAME if name == old else name for name in node.input]
    graph.output[0].name = OUTPUT_NAME
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))


def write(model, path: Path, meta: ExportMeta) -> None:
    tf2onnx_log = logging.getLogger("tf2onnx")
    level = tf2onnx_log.level
    tf2onnx_log.setLevel(logging.ERROR)  # its INFO lines are conversion chatter; unsupported ops stay ERROR
    try:
        with warnings.catch_warnings():  # Keras' numpy-2 patch of tf2onnx probes np.object
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            inference_model(model, meta.input_size).export(str(path), format="onnx", verbose=False,
                                                           input_signature=[image_spec(meta.input_size)])
    finally:
        tf2onnx_log.setLevel(level)
    _name_io(path)


def load(path: Path) -> dict[str, Predict]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {"float32": lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]}
