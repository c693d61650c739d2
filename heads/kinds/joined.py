"""Several configurations' features as one row per image: each part reduced as its own mode says
(flatten a small grid, average a large one), then the parts side by side.

The store keys every configuration by image content, so the parts of one image line up by hash
(heads.inputs reads them in the order asked); this module only turns the aligned parts into the
one matrix a head is fitted on, in numpy for fit and predict, and as Keras layers for export,
so both compute the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from heads.errors import HeadError
from heads.kinds.reduce import check_reduce, keras_reduction, reduce_features

PREDICT_CHUNK = 1024


@dataclass(frozen=True)
class FeatureJoin:
    """How the parts of a multi-configuration head become one row: a reduction per part, then concatenation."""

    modes: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.modes) != len(self.shapes):
            raise HeadError(f"A join needs one reduction per input. Received: {len(self.modes)} modes, "
                            f"{len(self.shapes)} inputs")
        for mode, shape in zip(self.modes, self.shapes):
            check_reduce(mode, tuple(shape))

    @property
    def widths(self) -> list[int]:
        return [int(np.prod(s)) if m == "flatten" or len(s) != 3 else int(s[-1]) for m, s in zip(self.modes, self.shapes)]

    @property
    def width(self) -> int:
        return sum(self.widths)

    def transform(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """The joined float32 rows of aligned parts (row i of every part is the same image)."""
        if len(parts) != len(self.shapes):
            raise HeadError(f"This head reads {len(self.shapes)} configurations. Received: {len(parts)} inputs")
        for i, (part, shape) in enumerate(zip(parts, self.shapes)):
            if tuple(part.shape[1:]) != tuple(shape):
                raise HeadError(f"Input {i + 1} has rows of shape {tuple(part.shape[1:])}; the head takes {tuple(shape)}.")
        if len({len(p) for p in parts}) > 1:
            raise HeadError(f"The inputs have different row counts ({', '.join(str(len(p)) for p in parts)}): "
                            f"they are not aligned.")
        return np.hstack([reduce_features(part, mode) for part, mode in zip(parts, self.modes)])

    def to_keras(self, tensors: list):
        """The same join as Keras layers: one reduction layer per input, then Concatenate."""
        import keras

        reduced = [keras_reduction(x, mode, f"join_{i + 1}") for i, (x, mode) in enumerate(zip(tensors, self.modes))]
        return keras.layers.Concatenate(name="join")(reduced) if len(reduced) > 1 else reduced[0]

    def to_record(self) -> dict:
        return {"reduce": list(self.modes), "shapes": [list(s) for s in self.shapes], "widths": self.widths}

    @classmethod
    def from_record(cls, record: dict) -> "FeatureJoin":
        return cls(tuple(record["reduce"]), tuple(tuple(s) for s in record["shapes"]))


class JoinedModel:
    """A head model (heads.kinds.models) fitted on joined rows, taking the parts themselves."""

    def __init__(self, join: FeatureJoin, inner):
        self.join, self.inner = join, inner
        self.classes_ = np.asarray(inner.classes_)

    def predict_proba(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        n = len(parts[0]) if len(parts) else 0
        chunks = [self.inner.predict_proba([self.join.transform([p[i:i + PREDICT_CHUNK] for p in parts])])
                  for i in range(0, n, PREDICT_CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes_)))

    def to_keras(self, tensors: list):
        return self.inner.to_keras([self.join.to_keras(tensors)])

    def fit_clone(self, parts: Sequence[np.ndarray], labels: np.ndarray) -> "JoinedModel":
        """The same head, unfitted, fitted again on these rows (out-of-fold predictions for stacking)."""
        return JoinedModel(self.join, self.inner.fit_clone([self.join.transform(parts)], labels))
