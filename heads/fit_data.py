"""What `heads fit` trains and scores on: the configurations it reads, their reductions and the rows of each split.

One configuration: the head takes its features as stored and reduces them itself (the reduction is
part of the estimator, saved with it; a large split may stream). Several configurations: the
features of each image are joined by content hash, each part reduced by its own mode, and the head
is fitted on the joined rows (heads.kinds.joined); rows without features in every configuration
are left out and named in one line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from heads import binding
from heads.binding import SplitRows
from heads.data import StreamSource, chunk_rows_for, row_bytes
from heads.errors import HeadError
from heads.exclusion import Exclusion
from heads.inputs import HeadInputs
from heads.kinds.joined import FeatureJoin
from heads.kinds.reduce import AUTO, AUTO_RULE, resolve_modes
from store import ConfigView, DatasetIndex, FeatureStore
from store.index_check import edited_reason

READ_CHUNK = 512  # rows of every configuration read at once while joining


def _selectors(config: str | Sequence[str] | None) -> list[str | None]:
    if config is None or isinstance(config, str):
        return [config]
    selectors = list(config)
    return selectors or [None]


@dataclass
class FitData:
    index: DatasetIndex
    views: list[ConfigView]
    inputs: HeadInputs
    modes: list[str]  # the reduction of each configuration, resolved
    join: FeatureJoin | None  # None: one configuration, reduced by the estimator itself
    class_names: list[str]
    train: SplitRows
    scoring: dict[str, SplitRows]  # the other labelled splits with rows
    notes: list[str] = field(default_factory=list)
    auto_reduce: bool = False  # whether `auto` chose a reduction (the rule is then recorded)
    excluded: list[str] = field(default_factory=list)  # train paths left out (heads.exclusion)

    @classmethod
    def prepare(cls, store: str | Path, config: str | Sequence[str] | None, dataset: str | None,
                reduce, train_split: str, exclusion: Exclusion | None = None) -> "FitData":
        features = FeatureStore(store)
        index, choice_note = features.dataset_choice(dataset)
        edited = edited_reason(features.layout, index)  # labels edited inside the index: never trained on
        if edited:
            raise HeadError(f"Refusing to fit: {edited}. `extract run` again indexes the data folder anew "
                            f"(`extract verify` lists such files). Received: {features.layout.root}")
        names = features.names()
        chosen = [features.select(selector) for selector in _selectors(config)]  # views refused, by name
        views = [features.view(c.config_id, index.name) for c in chosen]
        ids = [view.config.config_id for view in views]
        repeated = sorted({names.name(i) for i in ids if ids.count(i) > 1})
        if repeated:
            raise HeadError(f"Each configuration once: {', '.join(repeated)} was given twice. Received: --config "
                            f"{' --config '.join(str(s) for s in _selectors(config))}")
        shapes = [tuple(view.config.feature_shape) for view in views]
        asked = [getattr(m, "value", m) for m in ([reduce] if isinstance(reduce, str) or reduce is None else reduce)]
        try:
            modes = resolve_modes([m or AUTO for m in asked], shapes)
        except ValueError as error:
            raise HeadError(f"{error} (configurations {', '.join(map(names.name, ids))})") from None
        inputs = HeadInputs(tuple(view.config for view in views))
        join = FeatureJoin(tuple(modes), tuple(shapes)) if len(views) > 1 else None
        class_names = list(index.classes)
        train = inputs.with_features(views, binding.fit_rows(index, class_names, train_split, train_split))
        excluded: list[str] = []
        if exclusion:
            drop = np.array([h in exclusion.keys or p in exclusion.keys for h, p in zip(train.hashes, train.paths)],
                            dtype=bool)
            excluded = [p for p, dropped in zip(train.paths, drop) if dropped]
            train = train.subset(~drop)
            train.notes.append(f"{len(excluded)} {train_split} rows left out ({'; '.join(exclusion.sources)}).")
        if len(train) == 0:
            raise HeadError(f"The {train_split!r} split of dataset {index.name} has no features of "
                            f"{' + '.join(map(names.name, ids))}. Splits: {', '.join(index.split_names())}")
        others = [s for s in index.split_names() if s not in (train_split, "unlabelled")]
        scoring = {split: inputs.with_features(views, binding.fit_rows(index, class_names, split, train_split))
                   for split in others}
        scoring = {split: rows for split, rows in scoring.items() if len(rows)}
        notes = ([choice_note] if choice_note else []) + train.notes + [n for r in scoring.values() for n in r.notes]
        for split, rows in [(train_split, train), *scoring.items()]:
            absent = [name for i, name in enumerate(class_names) if not np.any(rows.labels == i)]
            if absent and split in (train_split, "validation"):
                consequence = "the head cannot predict them" if split == train_split else "not scored there"
                notes.append(f"Classes with no {split} image: {', '.join(absent)} ({consequence}).")
        return cls(index, views, inputs, modes, join, class_names, train, scoring, notes, AUTO in asked, excluded)

    # -- what the estimator takes ---------------------------------------------------------------
    @property
    def joined(self) -> bool:
        return self.join is not None

    @property
    def estimator_reduce(self) -> str:
        """The reduction the estimator applies itself (a joined head's rows come reduced)."""
        return "flatten" if self.joined else self.modes[0]

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """The shape of one row as the estimator takes it."""
        return (self.join.width,) if self.joined else tuple(self.views[0].config.feature_shape)

    def need_mb(self, rows: SplitRows) -> float:
        """Memory to fit on a split in memory: its rows as float32 (`read`), and as much again for the
        standardised copy a kind's scaler makes (8 bytes a value in all; joined rows are scaled likewise)."""
        return 2 * row_bytes(self.model_input_shape) * len(rows) / 2**20

    def read(self, rows: SplitRows) -> np.ndarray:
        """A split's rows as the estimator takes them (float32), in the rows' order: read a chunk at a
        time straight into one array, 4 bytes a value plus a chunk (no copy as stored beside it)."""
        if self.joined:
            return self.inputs.read(self.views, rows.hashes, READ_CHUNK, self.join.transform)
        out = np.empty((len(rows), *self.model_input_shape), dtype=np.float32)
        for positions, (part,) in self.inputs.read_chunks(self.views, rows.hashes, self.chunk_rows):
            out[positions] = part
        return out

    @property
    def chunk_rows(self) -> int:
        """Rows read at once: CHUNK_MB of float32 features as stored, all configurations together (heads.data)."""
        return chunk_rows_for((sum(math.prod(shape) for shape in self.inputs.shapes),))

    def predict_proba(self, estimator, rows: SplitRows) -> np.ndarray:
        """The estimator's probabilities for a split's rows, in their order, read a chunk at a time:
        memory holds rows x classes and one chunk, never the split's features."""
        proba = None
        for positions, parts in self.inputs.read_chunks(self.views, rows.hashes, self.chunk_rows):
            chunk = estimator.predict_proba(self.join.transform(parts) if self.joined else parts[0])
            if proba is None:
                proba = np.zeros((len(rows), chunk.shape[1]))
            proba[positions] = chunk
        return proba if proba is not None else np.zeros((0, len(estimator.classes_)))

    def stream(self, rows: SplitRows, buffer_rows: int) -> StreamSource:
        if self.joined:
            raise HeadError(f"Joined configurations ({' + '.join(self.inputs.ids)}) are read into memory, reduced "
                            f"first ({self.need_mb(self.train):.0f} MB for the train split); streaming applies to one "
                            f"configuration. Drop --stream, or raise --memory-limit.")
        return StreamSource.for_rows(self.views[0], rows, buffer_rows)

    def record(self) -> dict:
        """The input fields of head.json."""
        ids = self.inputs.ids
        fields = {"inputs": self.inputs.to_record(), "config_id": "+".join(ids),
                  "input_shape": list(self.model_input_shape), "reduce": "+".join(self.modes)}
        if self.joined:
            fields["join"] = self.join.to_record()
        if self.auto_reduce:
            fields["reduce_rule"] = AUTO_RULE
        return fields
