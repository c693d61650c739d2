"""Export formats: a tiny real chain (MobileNet alpha 0.25 at 32 px, random seeded weights) written as
keras, SavedModel, TFLite and ONNX, each loaded here in its own runtime and compared with the Keras
model's predictions; the files beside it; refusals that leave nothing behind."""
from __future__ import annotations

import json

import numpy as np
import pytest

from heads.errors import HeadError
from heads.formats import ExportMeta, export_formats, write_export

SIZE = 32
CLASSES = ["cats", "dogs", "birds"]
# Every format computes in float32 from the same weights; only the kernels differ (XNNPACK for TFLite,
# MLAS for onnxruntime, Eigen for TensorFlow), which moves probabilities by about 1e-5 here.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def chain():
    """image (32x32 RGB 0..255) -> preprocessing (frozen Dense(3),
    "tf" mode) -> MobileNet -> average pooling -> Dense softmax. BatchNormalization statistics are set
    from a batch (momentum 0, one training call) so that random-init activations keep their scale and the
    probabilities depend on the image (left at their init, they shrink to ~1e-18 at the top)."""
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNet(input_shape=(SIZE, SIZE, 3), alpha=0.25, include_top=False, weights=None)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    rng = np.random.default_rng(0)
    base(rng.uniform(-1, 1, (16, SIZE, SIZE, 3)).astype(np.float32), training=True)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    preprocess = keras.layers.Dense(3, trainable=False, name="preprocess_tf")
    x = preprocess(inputs)
    preprocess.set_weights([np.eye(3, dtype=np.float32) / 127.5, -np.ones(3, np.float32)])
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax", name="head")(x))
    images = rng.integers(0, 256, (6, SIZE, SIZE, 3)).astype(np.float32)  # whole values: uint8-exact
    images[:2] = np.clip(images[:2] * 0.3 + np.array([200, 40, 30]), 0, 255).round()
    expected = model.predict(images, verbose=0)
    assert len(set(expected.argmax(1))) > 1, "the tiny chain should tell these images apart"
    return model, images, expected


def meta() -> ExportMeta:
    return ExportMeta(class_names=list(CLASSES), input_size=SIZE, resize="squash", preprocess="tf",
                      backbone="mobilenet", config_id="cfg-tiny", head_id="head-tiny", kind="dense",
                      extra={"metrics": {"accuracy": 0.875, "log_loss": 0.31}, "metrics_split": "validation"})


@pytest.fixture(scope="module")
def exported(chain, tmp_path_factory):
    """write_export(fmt) once per format for the module, checked on the first four images."""
    model, images, expected = chain
    folder, done = tmp_path_factory.mktemp("exports"), {}

    def export(fmt: str):
        if fmt not in done:
            done[fmt] = write_export(model, fmt, folder / fmt, meta(), list(zip(images[:4], expected[:4])),
                                     tolerance=TOLERANCE)
        return done[fmt]

    return export


def load_in_runtime(fmt: str, path):
    """The written model, read as a deployer would, without the library: float32 images -> probabilities."""
    if fmt == "keras":
        import keras

        model = keras.models.load_model(path)
        return lambda x: model.predict(x, verbose=0)
    if fmt == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return lambda x: serve(image=tf.constant(x))["probabilities"].numpy()
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return lambda x: runner(image=x)["probabilities"]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(["probabilities"], {"image": x})[0]


@pytest.mark.parametrize("fmt", export_formats())
def test_each_format_agrees_with_keras_in_its_own_runtime(chain, exported, fmt):
    _, images, expected = chain
    result = exported(fmt)
    out = result.path.parent
    assert result.path.exists() and out.name == fmt and result.fmt == fmt
    assert result.checked == 4 and result.max_difference <= TOLERANCE and result.agreement == 1.0
    assert {"labels.txt", "preprocessing.json", "README.md"} <= set(result.files)
    assert result.bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left

    weights = sum(p.stat().st_size for p in (result.path / "variables").iterdir()) if fmt == "savedmodel" \
        else result.path.stat().st_size
    assert weights < 1.5 * 4 * chain[0].count_params()  # float32 values once (Keras' track() saves them twice)
    got = load_in_runtime(fmt, result.path)(images)  # all six images, four of them never seen by the check
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)
    assert (got.argmax(1) == expected.argmax(1)).all()

    assert (out / "labels.txt").read_text().splitlines() == CLASSES
    described = json.loads((out / "preprocessing.json").read_text())
    assert described["class_names"] == CLASSES and described["format"] == fmt
    assert described["input"]["shape"] == [None, SIZE, SIZE, 3] and described["input"]["range"] == [0, 255]
    assert described["resize"]["mode"] == "squash" and described["preprocessing"]["mode"] == "tf"
    assert described["check"]["checked"] == 4 and described["check"]["max_difference"] <= TOLERANCE
    card = (out / "README.md").read_text()
    assert "mobilenet" in card and "0.875" in card and "Intended use" in card and "Limitations" in card
    assert "| 2 | birds |" in card


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_uint8_signature_gives_the_float_probabilities(chain, exported, fmt):
    _, images, expected = chain
    result = exported(fmt)
    pixels = images.astype(np.uint8)
    if fmt == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(str(result.path)).signatures["serving_uint8"]
        got = serve(image=tf.constant(pixels))["probabilities"].numpy()
    else:
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(result.path)).get_signature_runner("serving_uint8")
        assert runner.get_input_details()["image"]["dtype"] == np.uint8
        got = runner(image=pixels)["probabilities"]
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


def test_tflite_file_carries_its_labels_and_metadata(exported):
    """The labels zipped onto the model and the TFLITE_METADATA buffer (schema "M001") that Android's Task
    Library reads; the layout itself was checked against tflite-support's writer (not installable here)."""
    import zipfile

    from tensorflow.lite.tools import flatbuffer_utils

    path = exported("tflite").path
    with zipfile.ZipFile(path) as packed:
        assert packed.namelist() == ["labels.txt"]
        assert packed.read("labels.txt").decode().splitlines() == CLASSES
    model = flatbuffer_utils.read_model(str(path))
    entries = {entry.name.decode() if isinstance(entry.name, bytes) else entry.name: entry.buffer
               for entry in model.metadata}
    metadata = bytes(model.buffers[entries["TFLITE_METADATA"]].data)
    assert metadata[4:8] == b"M001" and b"labels.txt" in metadata and b"probabilities" in metadata
    assert [s.signatureKey.decode() for s in model.signatureDefs] == ["serving_default", "serving_uint8"]
    assert model.signatureDefs[0].subgraphIndex == 0  # the metadata describes subgraph 0


def test_unknown_format_is_refused_in_one_line(chain, tmp_path):
    with pytest.raises(HeadError) as error:
        write_export(chain[0], "pb", tmp_path / "out", meta(), [])
    assert str(error.value) == "Unknown export format. Allowed: keras, savedmodel, tflite, onnx. Received: fmt='pb'"
    assert not list(tmp_path.iterdir())


def test_onnx_without_its_packages_is_refused_in_one_line(chain, tmp_path, monkeypatch):
    from heads.formats import onnx_format

    monkeypatch.setattr(onnx_format, "package_versions", lambda names: {})  # as if the extra were missing
    with pytest.raises(HeadError, match=r"pip install 'bottleneck-cache\[export\]'. Received: fmt='onnx' without"):
        write_export(chain[0], "onnx", tmp_path / "out", meta(), [])
    assert not list(tmp_path.iterdir())


def test_existing_export_folder_is_refused_and_kept(chain, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(HeadError, match="not empty. Received: out=") as error:
        write_export(chain[0], "keras", out, meta(), [])
    assert "\n" not in str(error.value)
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"


def test_empty_export_folder_is_filled(chain, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = write_export(chain[0], "keras", out, meta(), [])
    assert result.checked == 0 and np.isnan(result.max_difference)
    assert (out / "model.keras").is_file() and json.loads((out / "preprocessing.json").read_text())["check"][
        "max_difference"] is None


def test_failing_check_leaves_nothing(chain, tmp_path):
    model, images, expected = chain
    wrong = np.roll(expected, 1, axis=1)  # every image's probabilities moved to another class
    out = tmp_path / "out"
    with pytest.raises(HeadError, match="differs from the expected probabilities by up to .*nothing written"):
        write_export(model, "keras", out, meta(), list(zip(images, wrong)), tolerance=TOLERANCE)
    assert not list(tmp_path.iterdir())  # neither out nor a staging folder


def test_check_pairs_and_class_names_are_validated(chain, tmp_path):
    model, images, expected = chain
    with pytest.raises(HeadError, match="check pair"):
        write_export(model, "keras", tmp_path / "a", meta(), [(images[0][:16], expected[0])])
    bad = meta()
    bad.class_names = ["cats", "cats", "birds"]
    with pytest.raises(HeadError, match="distinct"):
        write_export(model, "keras", tmp_path / "b", bad, [])
    bad = meta()
    bad.class_names = ["cats", "dogs"]
    with pytest.raises(HeadError, match="2 class names"):
        write_export(model, "keras", tmp_path / "c", bad, [])
    assert not list(tmp_path.iterdir())
