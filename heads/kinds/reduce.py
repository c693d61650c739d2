"""Spatial features (N, H, W, C) to vectors, for heads that need one row per image.

A scikit-learn transformer, so it is the first step of every scikit-learn head's
pipeline and is saved with it: a head always applies the same reduction at
predict time as at fit time. The rule itself (modes, `auto`) is store.vectors', shared with
the likeness of images (store.similarity, heads.inspection).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from store.vectors import AUTO, AUTO_FLATTEN_MAX, AUTO_RULE, REDUCE_MODES, auto_mode, check_reduce, reduce_features

__all__ = ["AUTO", "AUTO_FLATTEN_MAX", "AUTO_RULE", "FLOAT_DTYPES", "REDUCE_CHOICES", "REDUCE_MODES", "SpatialReducer",
           "auto_mode", "check_reduce", "keras_reduction", "reduce_features", "resolve_modes"]

REDUCE_CHOICES = (AUTO, *REDUCE_MODES)
FLOAT_DTYPES = [np.float32, np.float16, np.float64]  # float16 store rows stay float16 until reduced


def resolve_modes(modes, shapes: list[tuple[int, ...]]) -> list[str]:
    """One reduction per configuration: one mode given for all, or one per configuration, `auto` resolved;
    each checked against its features' shape."""
    modes = [getattr(m, "value", m) for m in ([modes] if isinstance(modes, str) or not modes else list(modes))]
    modes = modes or [AUTO]
    if len(modes) == 1:
        modes = modes * len(shapes)
    if len(modes) != len(shapes):
        raise ValueError(f"Give one --reduce for all configurations or one per configuration ({len(shapes)}). "
                         f"Received: {len(modes)} ({', '.join(modes)})")
    resolved = []
    for mode, shape in zip(modes, shapes):
        if mode not in REDUCE_CHOICES:
            raise ValueError(f"Unknown reduce mode {mode!r}. Allowed: {', '.join(REDUCE_CHOICES)}")
        mode = auto_mode(tuple(shape)) if mode == AUTO else mode
        check_reduce(mode, tuple(shape))
        resolved.append(mode)
    return resolved


def keras_reduction(x, mode: str, name: str = "reduce"):
    """The same reduction as a Keras layer on a tensor (an exported head's first step): Flatten, or global
    pooling over the grid (features without a grid are flattened whatever the mode)."""
    import keras

    if mode == "flatten" or len(x.shape) != 4:
        return keras.layers.Flatten(name=f"{name}_flatten")(x)
    if mode == "avg":
        return keras.layers.GlobalAveragePooling2D(name=f"{name}_avg")(x)
    return keras.layers.GlobalMaxPooling2D(name=f"{name}_max")(x)


class SpatialReducer(TransformerMixin, BaseEstimator):
    """flatten: keep every position (the blog's Flatten); avg/max: global pooling per channel."""

    def __init__(self, mode: str = "flatten"):
        self.mode = mode

    def fit(self, X, y=None):
        X = validate_data(self, X, allow_nd=True, dtype=FLOAT_DTYPES)
        check_reduce(self.mode, X.shape[1:])
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, allow_nd=True, dtype=FLOAT_DTYPES, reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"Features of shape {tuple(X.shape[1:])} given to a reducer fitted on {self.input_shape_}."
            )
        return reduce_features(X, self.mode)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
