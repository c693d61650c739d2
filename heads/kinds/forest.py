"""The forest kind as Keras layers: every tree's nodes as tables, walked one level per step for all
trees at once (heads.kinds.layers.TreeEnsembleProbabilities), then the mean of the leaves' class
probabilities, as RandomForestClassifier.predict_proba averages its trees'."""
from __future__ import annotations

import numpy as np

from heads.kinds.reduce import keras_reduction

_LEAF = -1  # scikit-learn's children_left of a leaf


def tree_tables(forest) -> dict:
    """The padded node tables of a fitted forest (see TreeEnsembleProbabilities), and its depth."""
    trees = [estimator.tree_ for estimator in forest.estimators_]
    nodes = max(tree.node_count for tree in trees)
    n_classes = len(forest.classes_)
    shape = (len(trees), nodes)
    features, left, right = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    thresholds, leaves = np.zeros(shape, np.float32), np.zeros((*shape, n_classes), np.float64)
    for t, tree in enumerate(trees):
        count = tree.node_count
        index = np.arange(nodes)
        leaf = np.ones(nodes, bool)
        leaf[:count] = tree.children_left == _LEAF
        left[t], right[t] = index, index  # a leaf (and padding) stays where it is
        left[t, :count] = np.where(leaf[:count], index[:count], tree.children_left)
        right[t, :count] = np.where(leaf[:count], index[:count], tree.children_right)
        features[t, :count] = np.where(leaf[:count], 0, tree.feature)
        threshold = np.where(leaf[:count], np.inf, tree.threshold)
        rounded = threshold.astype(np.float32)  # rounded down: x <= t32 exactly when x <= t, for float32 x
        thresholds[t, :count] = np.where(rounded > threshold, np.nextafter(rounded, np.float32(-np.inf)), rounded)
        value = tree.value[:, 0, :n_classes].astype(np.float64)
        total = value.sum(axis=1, keepdims=True)
        leaves[t, :count] = value / np.where(total == 0, 1.0, total)
    return {"features": features, "thresholds": thresholds, "left": left, "right": right, "leaves": leaves,
            "depth": max(int(tree.max_depth) for tree in trees)}


def export_layers(pipeline, x):
    """A fitted forest pipeline (reduce -> passthrough -> RandomForestClassifier) applied to a Keras tensor."""
    from heads.kinds.layers import TreeEnsembleProbabilities

    reducer, _, forest = (step for _, step in pipeline.steps)
    x = keras_reduction(x, reducer.mode)
    tables = tree_tables(forest)
    n_trees, n_nodes = tables["features"].shape
    layer = TreeEnsembleProbabilities(n_trees, n_nodes, forest.n_features_in_, len(forest.classes_),
                                      max(tables["depth"], 1), name="head_forest")
    layer.build((None, forest.n_features_in_))
    layer.set_trees(tables["features"], tables["thresholds"], tables["left"], tables["right"], tables["leaves"])
    return layer(x)
