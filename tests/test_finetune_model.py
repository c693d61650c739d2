"""The fine-tuning network: the registry's blocks reopened and only those, batch norm frozen in
inference mode, the dense head carried over, and sections of residual graphs that compose exactly."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from extract import build_section, get_backbone
from extract.model import preprocessing_layer
from heads.errors import HeadError
from heads.finetune.network import FineTuneNet, is_batch_norm, plan_reopen
from heads.kinds.dense_model import build_top_model
from tests.test_heads_support import tiny_weights


def test_plan_follows_the_registry_blocks():
    vgg = get_backbone("vgg16")
    one = plan_reopen(vgg, "block5_pool", 1)
    assert (one.reopened, one.cut) == (("block5",), "block4_pool")
    assert plan_reopen(vgg, "block5_pool", 2).cut == "block3_pool"
    assert plan_reopen(vgg, "block5_pool", 5).cut is None  # everything reopened: nothing left to cache
    assert plan_reopen(vgg, "block4_pool", 1).reopened == ("block4",)  # a head on lower features
    assert plan_reopen(get_backbone("resnet50"), "conv5_block3_out", 1).cut == "conv4_block6_out"
    for blocks in (0, 6, True):
        with pytest.raises(HeadError, match=r"--blocks must be 1 to 5: vgg16 has 5 blocks up to block5_pool .*"
                                            rf"Received: --blocks {blocks}"):
            plan_reopen(vgg, "block5_pool", blocks)
    with pytest.raises(HeadError, match="'block5_conv3', which ends no block of vgg16"):
        plan_reopen(vgg, "block5_conv3", 1)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    weights = tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.weights.h5")

    def build():
        base = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
        base.load_weights(weights)
        return base
    return build


def _tiny_net(build, blocks: int = 2, head=None):
    base = build()
    plan = plan_reopen(get_backbone("mobilenet"), "conv_pw_5_relu", blocks)
    head = head or build_top_model((4, 4, 64), 2, hidden=(16,), dropout=0.0, seed=0)
    return FineTuneNet(base, plan, preprocessing_layer("tf"), "none", head, 32), base, head


def _weights(layer) -> list[np.ndarray]:
    return [np.array(w) for w in layer.get_weights()]


def test_only_the_reopened_layers_and_the_head_train(tiny_base):
    net, base, head = _tiny_net(tiny_base, blocks=2)
    assert net.trainable_layers == ["conv_dw_4", "conv_pw_4", "conv_dw_5", "conv_pw_5"]
    expected = {id(w) for name in net.trainable_layers for w in base.get_layer(name).trainable_weights}
    expected |= {id(w) for w in head.trainable_weights}
    for model in (net.cached_model(), net.full_model({"flip": True, "rotation": 0.1, "zoom": 0.1, "shift": 0.1}, 0),
                  net.top_model()):
        assert {id(w) for w in model.trainable_weights} == expected
    assert all(not layer.trainable for layer in base.layers if is_batch_norm(layer))

    before = {layer.name: _weights(layer) for layer in base.layers if layer.weights}
    model = net.full_model({"flip": True, "rotation": 0.1, "zoom": 0.1, "shift": 0.1}, 0)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32"), rng.integers(0, 2, (16, 1)).astype("float32"),
              epochs=2, batch_size=8, verbose=0)
    for name, old in before.items():
        changed = any(not np.array_equal(a, b) for a, b in zip(old, _weights(base.get_layer(name))))
        assert changed == (name in net.trainable_layers), name  # BN statistics and gamma/beta included


def test_batch_norm_runs_in_inference_mode_while_training(tiny_base):
    net, _, _ = _tiny_net(tiny_base, blocks=3)
    x = np.random.default_rng(1).normal(size=(8, *net.cut_shape)).astype("float32")
    training = np.asarray(net.section(x, training=True))
    inference = np.asarray(net.section(x, training=False))
    assert np.abs(inference).max() > 0.1  # the seeded weights keep activations alive
    np.testing.assert_allclose(training, inference, rtol=1e-5, atol=1e-6)


def test_the_head_is_carried_over_with_its_weights(tiny_base):
    head = build_top_model((4, 4, 64), 2, hidden=(16,), dropout=0.5, seed=3)
    original = [np.array(w) for w in head.get_weights()]
    net, base, _ = _tiny_net(tiny_base, blocks=1, head=head)
    images = np.random.default_rng(2).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    features = keras.Model(base.input, base.get_layer("conv_pw_5_relu").output)(images / 127.5 - 1.0)
    # at the start, the fine-tuning model is exactly backbone features -> the dense head
    plain = net.full_model({"flip": False, "rotation": 0.0, "zoom": 0.0, "shift": 0.0}, 0)
    np.testing.assert_allclose(np.asarray(plain(images)), np.asarray(head(features)), rtol=1e-4, atol=1e-6)
    cut = keras.Model(base.input, base.get_layer(net.cut_layer).output)(images / 127.5 - 1.0)
    np.testing.assert_allclose(np.asarray(net.top_model()(cut)), np.asarray(head(features, training=False)),
                               rtol=1e-4, atol=1e-6)  # the saved top: the same answer from the cut activations
    for a, b in zip(original, plain.get_layer("dense_head").get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("factory,layer,cut", [("VGG16", "block5_pool", "block4_pool"),
                                               ("MobileNetV2", "out_relu", "block_14_add"),
                                               ("ResNet50", "conv5_block3_out", "conv4_block6_out")])
def test_sections_compose_exactly_residual_graphs_included(factory, layer, cut):
    keras.utils.set_random_seed(0)
    kwargs = {"alpha": 0.35} if factory == "MobileNetV2" else {}
    base = getattr(keras.applications, factory)(include_top=False, weights=None, input_shape=(32, 32, 3), **kwargs)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    whole = np.asarray(build_section(base, None, layer)(x))
    composed = np.asarray(build_section(base, cut, layer)(build_section(base, None, cut)(x)))
    assert np.abs(whole).max() > 0
    np.testing.assert_allclose(composed, whole, rtol=1e-5, atol=1e-6 * np.abs(whole).max())
    section = build_section(base, cut, layer)
    assert all(any(layer is mine for mine in base.layers) for layer in section.layers[1:])  # shared, not copied
