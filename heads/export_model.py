"""The exported classifier as one Keras model, built from the head and the extractors of its inputs.

    image (S x S, RGB 0..255; S: the largest input size)
      -> per test-time view (the plain image first), per input configuration:
           resample: a constant matrix on rows and one on columns (the resize from S to the
                     configuration's size, then the view's flip or zoom), left out when it is the identity
           -> the configuration's extractor (preprocessing -> frozen base up to its layer [+ pooling])
      -> the head's model as Keras layers (its kind's own: heads.kinds) -> probabilities
    -> the mean over the views

A resize and a fixed view are linear maps acting on rows and columns separately
(extract.resize_weights computes them as TensorFlow's kernels do); written as Permute + Dense
layers they are two matrix products, which every format converts, where TensorFlow's
antialiased resize op (ScaleAndTranslate) converts to neither TFLite nor ONNX.
"""
from __future__ import annotations

import numpy as np

from extract.augment import FixedView
from extract.resize_weights import resize_weights, view_weights


def input_matrices(input_size: int, size: int, view: FixedView | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, columns): the matrices taking the S x S input to one branch's input, or None for the identity.

    Parameters
    ----------
    input_size : int
        S, the exported model's input side.
    size : int
        The branch's configuration size (extraction resized the image to it).
    view : FixedView or None
        The test-time view the branch reads (None: the plain image).

    Returns
    -------
    tuple of numpy.ndarray, or None
        float32 (size, S) matrices for rows and for columns; None when both are the identity.
    """
    rows = columns = resize_weights(input_size, size).astype(np.float64)
    if view is not None:
        rows = view_weights(size, view.scale, view.dy).astype(np.float64) @ rows
        columns = view_weights(size, view.scale, view.dx, view.flip).astype(np.float64) @ columns
    if rows.shape == (input_size, input_size) and np.array_equal(rows, np.eye(input_size)) \
            and np.array_equal(columns, np.eye(input_size)):
        return None
    return rows.astype(np.float32), columns.astype(np.float32)


def resample(x, rows: np.ndarray, columns: np.ndarray, name: str):
    """`rows @ image @ columns.T` per channel of a (batch, H, W, C) tensor, as built-in Keras layers
    (Permute and bias-free frozen Dense), so a plain `keras.models.load_model` reads it back."""
    import keras

    def product(tensor, matrix: np.ndarray, suffix: str):
        layer = keras.layers.Dense(matrix.shape[0], use_bias=False, trainable=False, dtype="float32",
                                   name=f"{name}_{suffix}")
        layer.build((None, None, None, matrix.shape[1]))
        layer.set_weights([matrix.T.astype(np.float32)])
        return layer(tensor)

    x = keras.layers.Permute((3, 1, 2), name=f"{name}_channels_first")(x)  # (C, H, W): columns last
    x = product(x, columns, "columns")
    x = keras.layers.Permute((1, 3, 2), name=f"{name}_rows_last")(x)  # (C, W', H)
    x = product(x, rows, "rows")
    return keras.layers.Permute((3, 2, 1), name=f"{name}_channels_last")(x)  # (H', W', C)


def build_export_model(loaded, size: int, views: list[FixedView] = ()):
    """The whole classifier (not yet saved), taking (size, size, 3) images.

    Parameters
    ----------
    loaded : heads.artifact.LoadedHead
        The head, its inputs and its model.
    size : int
        The input side S (the largest of the head's input configurations).
    views : list of FixedView
        Test-time views averaged with the plain image inside the model (heads.tta's average).

    Returns
    -------
    keras.Model
        Frozen (`trainable = False`): an exported model only infers, and its BatchNormalization
        layers stay in inference mode however it is called.
    """
    import keras

    image = keras.Input(shape=(size, size, 3), name="image")
    extractors = loaded.inputs.extractors()
    branches = []
    for number, extractor in enumerate(extractors, 1):
        extractor.model.trainable = False
        if len(extractors) == 1:
            branches.append(extractor.model)
            continue
        # Several branches: each its own sub-model, so two backbones' (or two layers of one backbone's) layer
        # names, unique within a branch, never clash in the whole model.
        side = int(extractor.config.size)
        branch_image = keras.Input(shape=(side, side, 3), name="image")
        branches.append(keras.Model(branch_image, extractor.model(branch_image),
                                    name=f"branch_{number}_{extractor.config.config_id}"))
    head = None
    if views:  # one head, called on each view's features (its layers shared, its names once)
        inputs = [keras.Input(tuple(shape), name=f"features_{i + 1}") for i, shape in enumerate(loaded.inputs.shapes)]
        head = keras.Model(inputs, loaded.model.to_keras(inputs), name="head")
    probabilities = []
    for position, view in enumerate([None, *views]):
        features = []
        for number, (extractor, branch) in enumerate(zip(extractors, branches), 1):
            matrices = input_matrices(size, int(extractor.config.size), view)
            name = f"input_{number}" + (f"_{view.name.replace('-', '_')}" if view else "")
            features.append(branch(image if matrices is None else resample(image, *matrices, name)))
        probabilities.append(head(features) if head is not None else loaded.model.to_keras(features))
    output = keras.layers.Average(name="test_time_mean")(probabilities) if views else probabilities[0]
    names = "_".join(c.backbone for c in loaded.inputs.configs)
    model = keras.Model(image, output, name=f"{names}_{loaded.kind.name}_classifier")
    model.trainable = False
    return model
