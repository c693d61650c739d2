"""The ensemble kind: several heads on the same classes as one head.

Its input is the union of its members' store configurations (each read once); each member takes
its own configurations from it, and its probability columns are put in the ensemble's order by
class NAME. `mean` averages the members' probabilities; `stack` feeds them, side by side, to a
logistic regression fitted on out-of-fold probabilities of the train split (heads.ensemble). Both
are Keras layers when every member is, so the ensemble exports as one model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from heads.errors import HeadError
from store import confine

METHODS = ("mean", "stack")
ENSEMBLE_FILE, STACKER_FILE, MEMBERS_DIR = "ensemble.json", "stacker.skops", "members"


class EnsembleRecipe(BaseEstimator):
    """The parameters of an ensemble (scikit-learn style; `heads ensemble` makes one)."""

    def __init__(self, method: str = "mean", cv: int = 5, seed: int = 0):
        self.method = method
        self.cv = cv
        self.seed = seed


@dataclass
class Member:
    model: object  # a head model (heads.kinds.models.HeadModel)
    positions: tuple[int, ...]  # the ensemble inputs it reads, in its own order
    columns: np.ndarray  # for each ensemble column, the member's column of the same class name
    head_id: str = ""


def column_map(ensemble_columns: list[str], member_columns: list[str], head_id: str) -> np.ndarray:
    """Where each of the ensemble's classes is among a member's columns (compared by name)."""
    if sorted(member_columns) != sorted(ensemble_columns):
        raise HeadError(f"Head {head_id} predicts the classes {', '.join(member_columns)}; the ensemble's are "
                        f"{', '.join(ensemble_columns)}. An ensemble's heads share their classes (by name).")
    return np.array([member_columns.index(name) for name in ensemble_columns], dtype=np.int64)


class EnsembleModel:
    def __init__(self, members: list[Member], classes, method: str, stacker=None):
        if method not in METHODS:
            raise HeadError(f"Unknown ensemble method {method!r}. Allowed: {', '.join(METHODS)}")
        if method == "stack" and stacker is None:
            raise HeadError("A stacked ensemble needs its fitted stacker.")
        self.members, self.method, self.stacker = members, method, stacker
        self.classes_ = np.asarray(classes)

    def member_probabilities(self, parts: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each member's probabilities, columns in the ensemble's order."""
        return [np.asarray(m.model.predict_proba([parts[p] for p in m.positions]))[:, m.columns]
                for m in self.members]

    def combine(self, probabilities: list[np.ndarray]) -> np.ndarray:
        if self.method == "mean":
            return np.mean(probabilities, axis=0)
        return self.stacker.predict_proba(np.hstack(probabilities))

    def predict_proba(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        if not len(parts) or not len(parts[0]):
            return np.zeros((0, len(self.classes_)))
        return self.combine(self.member_probabilities(parts))

    def to_keras(self, tensors: list):
        """Each member as its own sub-model (its layer names stay its own), columns reordered by a fixed
        permutation, then an Average layer, or Concatenate and the stacker's Dense layer."""
        import keras

        from heads.kinds import linear

        outputs = []
        for number, member in enumerate(self.members, 1):
            inputs = [keras.Input(tuple(tensors[p].shape[1:]), name=f"input_{i + 1}")
                      for i, p in enumerate(member.positions)]
            branch = keras.Model(inputs, member.model.to_keras(inputs), name=f"member_{number}")
            x = branch([tensors[p] for p in member.positions])
            if not np.array_equal(member.columns, np.arange(len(member.columns))):
                order = keras.layers.Dense(len(member.columns), use_bias=False, name=f"member_{number}_columns",
                                           trainable=False)
                order.build((None, len(member.columns)))
                order.set_weights([np.eye(len(member.columns), dtype=np.float32)[:, member.columns]])
                x = order(x)
            outputs.append(x)
        if self.method == "mean":
            return keras.layers.Average(name="ensemble_mean")(outputs) if len(outputs) > 1 else outputs[0]
        joined = keras.layers.Concatenate(name="ensemble_stack")(outputs) if len(outputs) > 1 else outputs[0]
        return linear.export_layers(self.stacker, joined)

    @classmethod
    def load(cls, folder: Path, record: dict, load_member: Callable[[Path], object],
             load_stacker: Callable[[Path], object]) -> "EnsembleModel":
        """The ensemble of a head folder: its members from their copies inside it, its stacker if any."""
        description = json.loads((Path(folder) / ENSEMBLE_FILE).read_text(encoding="utf-8"))
        members = []
        for entry in description["members"]:
            try:
                member_folder = confine(Path(folder), entry["folder"])
            except ValueError as error:
                raise HeadError(f"Ensemble {record.get('head_id')}: {error}") from None
            members.append(Member(load_member(member_folder), tuple(entry["positions"]),
                                  np.asarray(entry["columns"], dtype=np.int64), entry["head_id"]))
        stacker = load_stacker(Path(folder) / STACKER_FILE) if description["method"] == "stack" else None
        return cls(members, record["classes"], description["method"], stacker)
