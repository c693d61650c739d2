"""Where a head's input comes from: the store configurations it reads, and how an image becomes them.

Every head, plain or fine-tuned, reads the features of one or more store configurations
(a plain head: the configuration it was fitted on; a fine-tuned head: the plain
activations at its cut, below which nothing was trained). The same configuration rebuilt
by `extract.Extractor.from_config` turns a new image into that input, exactly as
`extract run` did, so eval, predict and export each have one path for every kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from heads.errors import HeadError
from store import ConfigView, ExtractorConfig, FeatureStore, is_store
from store.names import describe

REPRODUCE_TOLERANCE = 0.02  # of the features' range: float16 storage against a float32 recomputation


@dataclass
class HeadInputs:
    """The store configurations a head reads, in the order its model takes them."""

    configs: tuple[ExtractorConfig, ...]
    _extractors: list = field(default_factory=list, repr=False)
    # the plain inputs these are a view of (heads.tta): their extractors are derived from those, sharing each
    # loaded base and model (a view changes only the input pipeline)
    view_of: "HeadInputs | None" = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: dict) -> "HeadInputs":
        return cls(tuple(ExtractorConfig.from_json(c) for c in record["inputs"]))

    def to_record(self) -> list[dict]:
        return [c.to_json() for c in self.configs]

    @property
    def ids(self) -> list[str]:
        return [c.config_id for c in self.configs]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(c.feature_shape) for c in self.configs]

    # -- from the store ---------------------------------------------------------------------------
    def views(self, store: str | Path, dataset: str | None = None, head_id: str = "the head",
              required: bool = True) -> list[ConfigView] | None:
        """A view of each configuration in `store`; refused in one line when the store lacks one.
        With required=False, a missing store gives None (predict then computes every input itself)."""
        store = Path(store)
        if not is_store(store):
            if required:
                raise HeadError(f"Not a feature store (no store.json). Received: {store}")
            return None
        features = FeatureStore(store)
        held = {c.config_id: c for c in features.configs()}
        names = features.names()
        views = []
        for config in self.configs:
            if config.config_id not in held:
                present = "; ".join(map(names.describe, names.choices)) or "no configurations"
                raise HeadError(f"Head {head_id} was trained on configuration {describe(config)} (id "
                                f"{config.config_id}), but store {store} holds {present}. Refusing: use the head "
                                f"with its own store.")
            if tuple(held[config.config_id].feature_shape) != tuple(config.feature_shape):
                raise HeadError(f"Configuration {names.name(config)} in store {store} has features of shape "
                                f"{tuple(held[config.config_id].feature_shape)}; head {head_id} takes "
                                f"{tuple(config.feature_shape)}.")
            views.append(features.view(config.config_id, dataset))
        return views

    @staticmethod
    def stored(views: Sequence[ConfigView], hashes: Sequence[str]) -> list[np.ndarray]:
        """Each configuration's features of these hashes (str, or an `S64` array), float32, in the order given."""
        hashes = hashes if isinstance(hashes, np.ndarray) else list(hashes)
        return [view.features_for(hashes).astype(np.float32) for view in views]

    @staticmethod
    def present(views: Sequence[ConfigView], hashes: list[str]) -> np.ndarray:
        """Which hashes have features in every configuration."""
        present = np.ones(len(hashes), dtype=bool)
        for view in views:  # one sorted search per configuration (store.catalog), no per-row dict
            present &= view.catalog.find(hashes)[0]
        return present

    def with_features(self, views: Sequence[ConfigView], rows):
        """The rows (heads.binding.SplitRows) that have features in every configuration; the others are
        named in one line (a file added since the last `extract run`, or one that could not be decoded)."""
        present = self.present(views, rows.hashes)
        if present.all():
            return rows
        kept = rows.subset(present)
        missing = [(p, h) for p, h, ok in zip(rows.paths, rows.hashes, present) if not ok]
        bad = sum(any(h in view.catalog.rejected for view in views) for _, h in missing)
        lacking = [(view.name, sum(h not in view.catalog.rows for _, h in missing)) for view in views]
        where = ", ".join(f"{name} ({n})" for name, n in lacking if n) if len(views) > 1 else views[0].name
        kept.notes.append(f"{len(missing)} rows of {rows.split} have no features of {where} "
                          f"({', '.join(p for p, _ in missing[:3])}{', ...' if len(missing) > 3 else ''}; {bad} could not be decoded, {len(missing) - bad} not extracted "
                          f"yet: `extract run` extracts them): not used.")
        return kept

    def read_chunks(self, views: Sequence[ConfigView], hashes: list[str], chunk_rows: int):
        """(positions, parts) over the given hashes, a bounded number of rows at a time, in the first
        configuration's shard order (each shard file is read once): memory stays flat however large the split."""
        keys = np.asarray(hashes, dtype="S64") if len(hashes) else np.zeros(0, dtype="S64")  # 64 bytes a row
        _, shard, row = views[0].catalog.find(keys)
        order = np.lexsort((row, shard))
        chunk_rows = max(1, int(chunk_rows))
        for start in range(0, len(order), chunk_rows):
            positions = order[start:start + chunk_rows]
            yield positions, self.stored(views, keys[positions])

    def read(self, views: Sequence[ConfigView], hashes: list[str], chunk_rows: int,
             transform: Callable[[list[np.ndarray]], np.ndarray]) -> np.ndarray:
        """transform(parts) of every hash, in the order given, reading a bounded number of rows at a time
        (a joined head's rows: each part reduced before the next chunk is read)."""
        out = None
        for positions, parts in self.read_chunks(views, hashes, chunk_rows):
            rows = transform(parts)
            if out is None:
                out = np.zeros((len(hashes), *rows.shape[1:]), rows.dtype)
            out[positions] = rows
        return out if out is not None else transform([np.zeros((0, *shape), np.float32) for shape in self.shapes])

    # -- from images --------------------------------------------------------------------------------
    def extractors(self) -> list:
        """Each configuration rebuilt (weights checked by sha256, output shape checked), built once."""
        from extract import Extractor

        if not self._extractors and self.view_of is not None:
            self._extractors.extend(plain.derive(augment=config.augment)
                                    for plain, config in zip(self.view_of.extractors(), self.configs))
        if not self._extractors:
            try:
                self._extractors.extend(Extractor.from_config(c).build() for c in self.configs)
            except ValueError as error:
                raise HeadError(f"Cannot rebuild the head's input: {error}") from None
        return self._extractors

    def use_runtime(self, runtime: str, store: str | Path | None, paths: list[str]) -> list[str]:
        """Run each configuration's base in `runtime` (auto, tensorflow, onnxruntime: extract.runtimes) for
        the images `paths`, a converted base kept in `store` and checked on a few of those images first.
        Returns the lines saying where `auto` fell back to TensorFlow; anything else refused in one line."""
        from extract.runtimes.choice import ready_runtime

        notes = []
        for extractor in self.extractors():
            try:
                _, fallback = ready_runtime(extractor, Path(store) if store is not None else None, runtime, paths)
            except ValueError as error:  # RuntimeUnavailable, OptionError: one line already
                raise HeadError(str(error)) from None
            notes += [fallback] if fallback else []
        return notes

    def compute(self, paths: list[str], batch_size: int = 32, on_progress: Callable[[int], None] | None = None):
        """(parts, content hashes, reasons) for image files: each configuration's features, as stored."""
        parts, hashes, reasons = [], [""] * len(paths), [""] * len(paths)
        for position, extractor in enumerate(self.extractors()):
            features, digests, why = extractor.features_of_files(
                list(paths), batch_size, on_progress if position == 0 else None)
            parts.append(np.asarray(features, np.float32))
            hashes = [d or h for d, h in zip(digests, hashes)]
            reasons = [r or w for r, w in zip(reasons, why)]
        return parts, hashes, reasons

    def check_reproduces(self, views: Sequence[ConfigView], path: str, content_hash: str) -> None:
        """Refuse when the rebuilt input does not reproduce the store's features of a stored image
        (another backbone build, other weights under the same name, other resizing)."""
        fresh, _, reasons = self.compute([path], batch_size=1)
        if reasons[0]:
            return
        for config, view, part in zip(self.configs, views, fresh):
            stored = view.features_for([content_hash]).astype(np.float32)
            scale = max(float(np.abs(stored).max()), 1e-6)
            worst = float(np.abs(part - stored).max()) / scale
            if worst > REPRODUCE_TOLERANCE:
                raise HeadError(f"Features recomputed for a stored image differ from the store's by {worst:.3f} of "
                                f"their range (allowed {REPRODUCE_TOLERANCE}): this backbone does not reproduce "
                                f"configuration {view.name}. Refusing.")
