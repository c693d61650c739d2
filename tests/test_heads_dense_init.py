"""The dense head's start: standardised input, and the logistic regression's answer before any training."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from heads.kinds import dense_init, dense_model
from heads.kinds.dense import DenseHead
from heads.kinds.reduce import reduce_features
from tests.test_heads_support import features


@pytest.mark.parametrize("n_classes, hidden", [(2, (8,)), (3, (16, 8)), (3, ())])
def test_the_untrained_network_answers_as_the_logistic_regression(n_classes, hidden):
    import keras

    X, y = features(25, n_classes, shape=(2, 2, 5), seed=n_classes)
    reduced = reduce_features(X, "flatten")
    stats = dense_init.statistics(reduced)
    inputs = dense_init.standardised(reduced, stats)
    kernel, bias = dense_init.logistic_start(inputs, y, None, 0)
    model = dense_model.build_top_model((2, 2, 5), n_classes, hidden, 0.5, "flatten", 0, stats)
    assert dense_init.warm_start(model, kernel, bias, hidden) == "logreg"
    reference = LogisticRegression(C=dense_init.LOGREG_C, max_iter=1000, random_state=0).fit(inputs, y)
    got = keras.ops.convert_to_numpy(model(X.astype(np.float32), training=False))
    got = np.hstack([1 - got, got]) if n_classes == 2 else got
    np.testing.assert_allclose(got, reference.predict_proba(inputs), atol=1e-4)


def test_a_hidden_layer_too_small_starts_random_and_says_so():
    X, y = features(10, 3, shape=(4,))
    model = dense_model.build_top_model((4,), 3, (4,), 0.0, "flatten", 0)
    kernel, bias = dense_init.logistic_start(X.astype(np.float32), y, None, 0)
    assert dense_init.warm_start(model, kernel, bias, (4,)).startswith("random")


def test_statistics_streamed_equal_in_memory_and_constant_features_are_only_centred():
    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    X[:, 2] = 3.0
    mean, variance = dense_init.statistics(X)
    assert variance[2] == 1.0 and mean[2] == pytest.approx(3.0)
    streamed = dense_init.streamed_statistics(X[i:i + 7] for i in range(0, 50, 7))
    np.testing.assert_allclose(streamed[0], mean, atol=1e-6)
    np.testing.assert_allclose(streamed[1], variance, atol=1e-5)


def test_auto_keeps_the_blog_recipe_for_a_flattened_grid_and_starts_pooled_input_from_logreg():
    assert dense_init.resolve("auto", "auto", (4, 4, 512), "flatten") == (False, "random")
    assert dense_init.resolve("auto", "auto", (7, 7, 1280), "avg") == (True, "logreg")
    assert dense_init.resolve("auto", "auto", (2816,), "flatten") == (True, "logreg")
    assert dense_init.resolve(True, "random", (4, 4, 512), "flatten") == (True, "random")


def test_the_dense_head_records_its_start_and_refuses_an_unknown_one():
    X, y = features(20, 2, shape=(2, 2, 3))
    pooled = DenseHead(hidden=(8,), epochs=2, batch_size=8, patience=0, random_state=0, reduce="avg").fit(X, y)
    assert pooled.init_ == "logreg" and pooled.standardized_
    assert "standardize" in [layer.name for layer in pooled.model_.layers]
    plain = DenseHead(hidden=(8,), epochs=2, batch_size=8, patience=0, random_state=0).fit(X, y)
    assert plain.init_ == "random" and not plain.standardized_
    assert "standardize" not in [layer.name for layer in plain.model_.layers]
    with pytest.raises(ValueError, match="Unknown init 'zeros'"):
        DenseHead(init="zeros").fit(X, y)
    with pytest.raises(ValueError, match="standardize is True, False or 'auto'"):
        DenseHead(standardize="yes").fit(X, y)
