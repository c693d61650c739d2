"""The tool's own Keras layers, for heads that are no stack of built-in layers (knn, RBF svm, forest).

Self-contained (Keras and NumPy only): the keras export of a head using one ships a copy of this
file as `bottleneck_layers.py`, and `import bottleneck_layers` before `keras.models.load_model`
is all a deployer needs. Each layer is registered as "bottleneck_cache>Name"; its arrays are
weights (saved in the model file), its settings its config. In a traced format (SavedModel,
TFLite, ONNX) the layer is plain ops (MatMul, TopK, Gather): no file is needed there.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

PACKAGE = "bottleneck_cache"


def _constant(layer, name: str, shape: tuple, dtype: str = "float32"):
    """A frozen weight, zero until the fitted values are assigned (saved with the model, restored on load)."""
    return layer.add_weight(shape=shape, initializer="zeros", trainable=False, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class NearestNeighbourVote(keras.layers.Layer):
    """k nearest training rows by cosine similarity, and their vote (uniform or 1 / distance).

    Parameters
    ----------
    n_samples, n_features, n_classes : int
        The shapes of the training rows and of the vote table.
    k : int
        Neighbours that vote.
    weighting : str
        "uniform" (each neighbour 1) or "distance" (1 / cosine distance; an exact match alone
        votes, as scikit-learn's KNeighborsClassifier does).

    The training rows are stored unit-length and transposed (`rows`, (n_features, n_samples)), so the
    similarities of a batch are one matrix product; `votes` holds each row's one-hot class.
    """

    def __init__(self, n_samples: int, n_features: int, n_classes: int, k: int, weighting: str = "uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if weighting not in ("uniform", "distance"):
            raise ValueError(f"weighting is 'uniform' or 'distance'. Received: weighting={weighting!r}")
        self.n_samples, self.n_features, self.n_classes = int(n_samples), int(n_features), int(n_classes)
        self.k, self.weighting = int(k), weighting
        self.rows = _constant(self, "rows", (self.n_features, self.n_samples))
        self.votes = _constant(self, "votes", (self.n_samples, self.n_classes))

    def set_training_rows(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Store training rows (n_samples, n_features) and their class indices (0..n_classes-1)."""
        rows = np.asarray(rows, np.float64)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit = rows / np.where(norms == 0, 1.0, norms)  # a zero row stays zero (cosine similarity 0)
        self.rows.assign(unit.T.astype(np.float32))
        self.votes.assign(np.eye(self.n_classes, dtype=np.float32)[np.asarray(labels, np.int64)])

    def call(self, x):
        x = ops.cast(x, "float32")
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        unit = x / ops.maximum(norm, 1e-30)
        similarity, index = ops.top_k(ops.matmul(unit, self.rows), k=self.k)
        distance = ops.clip(1.0 - similarity, 0.0, 2.0)
        if self.weighting == "uniform":
            weight = ops.ones_like(distance)
        else:  # 1 / distance, or, where a row has exact matches, 1 for them and 0 for the others
            exact = ops.cast(distance <= 0.0, "float32")
            has_exact = ops.max(exact, axis=-1, keepdims=True)
            weight = has_exact * exact + (1.0 - has_exact) / ops.maximum(distance, 1e-30)
        votes = ops.take(self.votes, index, axis=0)  # (batch, k, classes)
        total = ops.sum(votes * ops.expand_dims(weight, -1), axis=1)
        return total / ops.maximum(ops.sum(total, axis=-1, keepdims=True), 1e-30)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_samples": self.n_samples, "n_features": self.n_features,
                "n_classes": self.n_classes, "k": self.k, "weighting": self.weighting}


@keras.saving.register_keras_serializable(package=PACKAGE)
class KernelSVMProbabilities(keras.layers.Layer):
    """A Platt-calibrated RBF support vector machine: kernel values, decision functions, sigmoids.

    Parameters
    ----------
    n_vectors, n_features, n_pairs, n_classes : int
        Support vectors and their width; decision functions (1 for two classes, one per pair of
        classes above: one-vs-one, turned into one per class as scikit-learn's SVC does); classes.
    gamma : float
        The RBF kernel's exp(-gamma * |x - v|^2).

    Weights: `vectors` (n_features, n_vectors) and their squared norms; `coefficients` (n_vectors,
    n_pairs) and `intercepts`: decision = kernel @ coefficients + intercepts; the one-vs-one
    bookkeeping `positive`/`negative` (n_pairs, n_classes); the per-class sigmoid `slopes`, `offsets`:
    p = sigmoid(-(slope * decision + offset)).
    """

    def __init__(self, n_vectors: int, n_features: int, n_pairs: int, n_classes: int, gamma: float, **kwargs):
        super().__init__(**kwargs)
        self.n_vectors, self.n_features = int(n_vectors), int(n_features)
        self.n_pairs, self.n_classes, self.gamma = int(n_pairs), int(n_classes), float(gamma)
        calibrated = 1 if self.n_classes == 2 else self.n_classes
        self.vectors = _constant(self, "vectors", (self.n_features, self.n_vectors))
        self.norms = _constant(self, "norms", (self.n_vectors,))
        self.coefficients = _constant(self, "coefficients", (self.n_vectors, self.n_pairs))
        self.intercepts = _constant(self, "intercepts", (self.n_pairs,))
        self.positive = _constant(self, "positive", (self.n_pairs, self.n_classes))
        self.negative = _constant(self, "negative", (self.n_pairs, self.n_classes))
        self.slopes = _constant(self, "slopes", (calibrated,))
        self.offsets = _constant(self, "offsets", (calibrated,))

    def set_svm(self, vectors, coefficients, intercepts, slopes, offsets) -> None:
        """Store the fitted SVM: support vectors (n_vectors, n_features), coefficient matrix, intercepts, sigmoids."""
        vectors = np.asarray(vectors, np.float64)
        self.vectors.assign(vectors.T.astype(np.float32))
        self.norms.assign((vectors ** 2).sum(axis=1).astype(np.float32))
        self.coefficients.assign(np.asarray(coefficients, np.float32))
        self.intercepts.assign(np.asarray(intercepts, np.float32))
        positive, negative = np.zeros((self.n_pairs, self.n_classes)), np.zeros((self.n_pairs, self.n_classes))
        pair = 0
        for i in range(self.n_classes):
            for j in range(i + 1, self.n_classes):
                positive[pair, i], negative[pair, j] = 1.0, 1.0
                pair += 1
        self.positive.assign(positive.astype(np.float32))
        self.negative.assign(negative.astype(np.float32))
        self.slopes.assign(np.asarray(slopes, np.float32))
        self.offsets.assign(np.asarray(offsets, np.float32))

    def call(self, x):
        x = ops.cast(x, "float32")
        distance = ops.sum(ops.square(x), axis=-1, keepdims=True) - 2.0 * ops.matmul(x, self.vectors) + self.norms
        decision = ops.matmul(ops.exp(-self.gamma * ops.maximum(distance, 0.0)), self.coefficients) + self.intercepts
        if self.n_classes == 2:
            positive = ops.sigmoid(-(self.slopes * decision + self.offsets))
            return ops.concatenate([1.0 - positive, positive], axis=-1)
        # one-vs-one to one per class (scikit-learn's _ovr_decision_function): votes, plus the summed
        # decisions squashed into (-1/3, 1/3) to break ties
        wins = ops.cast(decision >= 0.0, "float32")
        votes = ops.matmul(wins, self.positive) + ops.matmul(1.0 - wins, self.negative)
        summed = ops.matmul(decision, self.positive - self.negative)
        scores = votes + summed / (3.0 * (ops.abs(summed) + 1.0))
        probabilities = ops.sigmoid(-(self.slopes * scores + self.offsets))
        return probabilities / ops.sum(probabilities, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_vectors": self.n_vectors, "n_features": self.n_features,
                "n_pairs": self.n_pairs, "n_classes": self.n_classes, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TreeEnsembleProbabilities(keras.layers.Layer):
    """A forest of decision trees walked in parallel, one level per step, and its mean leaf probabilities.

    Parameters
    ----------
    n_trees, n_nodes, n_features, n_classes, depth : int
        Trees, nodes of the largest tree (the others padded), feature width, classes, the deepest leaf.

    Weights, one row per tree: `features` and `thresholds` (go left when x[feature] <= threshold),
    `left`, `right` (child node; a leaf points to itself), `leaves` (n_trees, n_nodes, n_classes): the
    class probabilities of each leaf. Thresholds are float32 rounded down, so x <= threshold decides as
    scikit-learn's float64 comparison does for every float32 x.
    """

    def __init__(self, n_trees: int, n_nodes: int, n_features: int, n_classes: int, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.n_trees, self.n_nodes, self.n_features = int(n_trees), int(n_nodes), int(n_features)
        self.n_classes, self.depth = int(n_classes), int(depth)
        size = self.n_trees * self.n_nodes
        self.features = _constant(self, "features", (size,), "int32")
        self.thresholds = _constant(self, "thresholds", (size,))
        self.left = _constant(self, "left", (size,), "int32")
        self.right = _constant(self, "right", (size,), "int32")
        self.leaves = _constant(self, "leaves", (size, self.n_classes))

    def set_trees(self, features, thresholds, left, right, leaves) -> None:
        """Store the padded tables: (n_trees, n_nodes) each, leaves (n_trees, n_nodes, n_classes)."""
        offsets = (np.arange(self.n_trees) * self.n_nodes)[:, None]
        self.features.assign(np.asarray(features, np.int32).ravel())
        self.thresholds.assign(np.asarray(thresholds, np.float32).ravel())
        self.left.assign((np.asarray(left) + offsets).astype(np.int32).ravel())  # flat node numbers
        self.right.assign((np.asarray(right) + offsets).astype(np.int32).ravel())
        self.leaves.assign(np.asarray(leaves, np.float32).reshape(-1, self.n_classes))

    def call(self, x):
        x = ops.cast(x, "float32")
        rows = ops.shape(x)[0]
        flat_x = ops.reshape(x, (-1,))
        row_start = ops.expand_dims(ops.arange(rows, dtype="int32") * self.n_features, -1)  # (batch, 1)
        node = ops.zeros((rows, self.n_trees), "int32") + ops.arange(self.n_trees, dtype="int32") * self.n_nodes
        for _ in range(self.depth):  # every tree one level down; a leaf stays where it is
            value = ops.take(flat_x, row_start + ops.take(self.features, node))
            node = ops.where(value <= ops.take(self.thresholds, node), ops.take(self.left, node),
                             ops.take(self.right, node))
        return ops.mean(ops.take(self.leaves, node, axis=0), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_trees": self.n_trees, "n_nodes": self.n_nodes,
                "n_features": self.n_features, "n_classes": self.n_classes, "depth": self.depth}
