"""Runtimes (issue 19): the frozen base runs behind a small interface; the configuration id
never depends on which runtime computed the features."""
import numpy as np
import pytest

from extract import Extractor
from extract.errors import OptionError
from extract.runtimes import RUNTIMES, get_runtime, register_runtime, runtime_names
from extract.runtimes.tensorflow import TensorFlowRuntime
from tests.conftest import TINY


def images(count: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


class EagerKeras:
    """A second real runtime for the interface: the same Keras model called eagerly, no tf.function."""

    name = "eager"
    loads = 0

    def unavailable(self):
        return None

    def load(self, extractor, store=None):
        EagerKeras.loads += 1
        model = extractor.model
        return lambda batch: np.asarray(model(batch, training=False), np.float32)

    def versions(self):
        return {"runtime": self.name}


@pytest.fixture
def eager_runtime():
    register_runtime("eager", EagerKeras)
    EagerKeras.loads = 0
    yield "eager"
    RUNTIMES.pop("eager")


def test_tensorflow_is_the_default_and_listed():
    assert "tensorflow" in runtime_names()
    assert Extractor.from_options(TINY).runtime == "tensorflow"
    versions = get_runtime("tensorflow").versions()
    assert versions["runtime"] == "tensorflow" and versions["tensorflow"] and versions["keras"]


def test_unknown_runtime_is_one_line_naming_the_allowed_ones():
    with pytest.raises(OptionError) as error:
        Extractor.from_options(TINY, runtime="tensorrt")
    message = str(error.value)
    assert "\n" not in message and "'tensorrt'" in message and "tensorflow" in message


def test_tensorflow_runtime_gives_numpy_float32_the_keras_model_gives():
    extractor = Extractor.from_options(TINY).build()
    batch = images(5)
    got = TensorFlowRuntime().load(extractor)(batch)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    want = np.asarray(extractor.model(batch, training=False))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.abs(want).max()))


def test_a_registered_runtime_computes_the_features_under_the_same_configuration_id(eager_runtime):
    reference = Extractor.from_options(TINY)
    other = Extractor.from_options(TINY, runtime=eager_runtime)
    assert other.runtime == "eager" and other.config.config_id == reference.config.config_id
    batch = images(6)
    got, want = other.features(batch, batch_size=4), reference.features(batch, batch_size=4)
    assert float(np.abs(want).max()) > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
    other.features(batch)  # loaded once per extractor, not per batch
    assert EagerKeras.loads == 1


def test_derived_extractors_keep_the_runtime(eager_runtime):
    derived = Extractor.from_options(TINY, runtime=eager_runtime).derive(pool="avg")
    assert derived.runtime == "eager"
    assert derived.features(images(2)).shape == (2, derived.config.feature_shape[0])
