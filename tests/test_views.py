"""Augmented views: fixed per (seed, view, image), so a cached view is reproducible."""
import dataclasses

import numpy as np
import pytest

from extract.api import run_extraction
from extract.view_runs import run_views
from extract.augment import AugmentSpec, apply_view, transform_vector, view_parameters
from store import FeatureStore
from tests.conftest import TINY, TINY_RUN, assert_features_close

HASH = "ab" * 32


def test_identity_and_flip_transforms_are_exact():
    import tensorflow as tf

    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype("float32")
    identity = apply_view(tf.constant(image), tf.constant([0, 0, 1, 0, 0], tf.float32), 16).numpy()
    np.testing.assert_allclose(identity, image, atol=1e-3)
    flipped = apply_view(tf.constant(image), tf.constant([1, 0, 1, 0, 0], tf.float32), 16).numpy()
    np.testing.assert_allclose(flipped, image[:, ::-1], atol=1e-3)
    quarter = transform_vector(np.array([0, np.pi / 2, 1, 0, 0]), 16)
    np.testing.assert_allclose(quarter[[0, 1, 3, 4]], [0, -1, 1, 0], atol=1e-6)


def test_parameters_depend_on_seed_view_and_content_only():
    spec = AugmentSpec(rotation=0.1, zoom=0.2, shift=0.1, seed=3)
    first = view_parameters(spec.for_view(0), HASH)
    np.testing.assert_array_equal(first, view_parameters(spec.for_view(0), HASH))
    assert not np.array_equal(first, view_parameters(spec.for_view(1), HASH))
    assert not np.array_equal(first, view_parameters(AugmentSpec(seed=4).for_view(0), HASH))
    many = np.stack([view_parameters(spec.for_view(v), HASH) for v in range(400)])
    assert set(np.unique(many[:, 0])) == {0.0, 1.0}
    assert np.abs(many[:, 1]).max() <= 0.1 * 2 * np.pi and many[:, 2].min() >= 0.8 and many[:, 2].max() <= 1.2
    assert np.abs(many[:, 3:]).max() <= 0.1


def test_views_are_cached_per_view_and_deterministic(dataset, tmp_path):
    spec = AugmentSpec(seed=7)
    summaries = run_views(2, spec, dataset, tmp_path / "a", TINY, TINY_RUN)
    ids = [s.config.config_id for s in summaries]
    assert len(set(ids)) == 3 and summaries[0].config.augment is None
    assert [s.config.augment["view"] for s in summaries[1:]] == [0, 1]
    store = FeatureStore(tmp_path / "a")
    plain, view0, view1 = (store.view(i).read("train") for i in ids)
    assert store.view(ids[1]).split_counts() == {"train": 12}  # views of the train split only
    assert plain.paths == view0.paths == view1.paths
    for a, b in ((view0, plain), (view0, view1)):
        assert np.abs(a.features.astype("float32") - b.features.astype("float32")).mean() > 0.1 * np.abs(
            plain.features).mean()
    # The same view again, in another store, in another batch size: the same features.
    again = run_extraction(dataset, tmp_path / "b", dataclasses.replace(TINY, augment=spec.for_view(0)),
                           dataclasses.replace(TINY_RUN, splits=["train"], batch_size=5))
    assert again.config.config_id == ids[1]
    assert_features_close(FeatureStore(tmp_path / "b").view().read("train").features, view0.features)


def test_bad_views_options_are_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="views must be 0 or more"):
        run_views(-1, AugmentSpec(), dataset, tmp_path / "s", TINY, TINY_RUN)
    with pytest.raises(ValueError, match="No split among holdout"):
        run_extraction(dataset, tmp_path / "s", dataclasses.replace(TINY, augment=AugmentSpec().for_view(0)),
                       dataclasses.replace(TINY_RUN, splits=["holdout"]))
    assert not (tmp_path / "s").exists()
