"""Resolving `--weights` to a file, its identity (sha256) and the preprocessing it expects.

The preprocessing follows the weights, not the backbone name: torchvision's VGG16
weights need 'torch' preprocessing where Keras's own need 'caffe'. A MANIFEST.json
beside a weights file (the format of shared/weights/) names its backbone,
preprocessing, trained input size and sha256, and the file is checked against it; a file
without one is recognised by its checksum where it can be (extract.known_weights), else the
backbone's preprocessing is assumed and said.

Keras's own download (`imagenet` without BOTTLENECK_WEIGHTS_DIR) happens when the base is
built (extract.model.build_base); a download that fails is one line naming the offline ways.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from extract.backbones import Backbone
from extract.errors import ExtractError
from extract.known_weights import identify
from store.shards import file_sha256

WEIGHTS_DIR_ENV = "BOTTLENECK_WEIGHTS_DIR"
PREPROCESS_MODES = ("caffe", "tf", "torch", "none")
RANDOM_INIT_SEED = 0


class WeightsError(ExtractError):
    pass


@dataclass(frozen=True)
class ResolvedWeights:
    source: str  # "none", "imagenet" (Keras download), or a file path
    path: Path | None
    sha256: str  # of the file; "random-init-seed0" for none; filled after download for imagenet
    preprocess: str
    alpha: float | None
    default_size: int | None = None  # the input size the weights were trained at (manifest, known file)
    preprocess_from: str = "the backbone's"  # where the preprocessing came from, for the run summary
    note: str | None = None  # one line when the preprocessing (or size) had to be assumed


def read_manifest(folder: Path) -> list[dict]:
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        return []
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"Unreadable weights manifest: {error}. Received: {manifest}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "file" in e for e in entries):
        raise WeightsError(f"A weights manifest must be a list of objects with a 'file' key. Received: {manifest}")
    return entries


def _default_alpha(backbone: Backbone, alpha: float | None) -> float | None:
    return (1.0 if alpha is None else float(alpha)) if backbone.has_alpha else None


def _check_preprocess(mode: str | None) -> None:
    if mode is not None and mode not in PREPROCESS_MODES:
        raise WeightsError(f"Unknown preprocessing {mode!r}. Allowed: {', '.join(PREPROCESS_MODES)}")


def _from_manifest_entry(backbone: Backbone, path: Path, entry: dict, alpha: float | None,
                         preprocess: str | None) -> ResolvedWeights:
    if entry.get("backbone") != backbone.name:
        raise WeightsError(
            f"Weights file {path.name} is for backbone {entry.get('backbone')!r} (per its MANIFEST.json). "
            f"Received: --backbone {backbone.name}"
        )
    if entry.get("include_top", False):
        raise WeightsError(f"Weights file {path.name} includes the classifier top; a no-top file is needed.")
    entry_alpha = entry.get("alpha")
    if backbone.has_alpha and alpha is not None and entry_alpha is not None and float(alpha) != float(entry_alpha):
        raise WeightsError(f"Weights file {path.name} has alpha {entry_alpha}. Received: --alpha {alpha}")
    actual = file_sha256(path)
    if entry.get("sha256") and entry["sha256"] != actual:
        raise WeightsError(
            f"Weights file {path.name} does not match its MANIFEST.json sha256 "
            f"(expected {entry['sha256'][:16]}..., got {actual[:16]}...): corrupt or replaced."
        )
    size = entry.get("default_size")
    return ResolvedWeights(
        source=str(path), path=path, sha256=actual,
        preprocess=preprocess or entry.get("preprocess") or backbone.preprocess,
        alpha=_default_alpha(backbone, entry_alpha if alpha is None else alpha),
        default_size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
        preprocess_from="--preprocess" if preprocess else "the weights' manifest" if entry.get("preprocess")
        else "the backbone's",
    )


def _from_known_file(backbone: Backbone, path: Path, sha256: str, alpha: float | None,
                     preprocess: str | None) -> ResolvedWeights:
    """A file without a manifest: its known preprocessing and size when its checksum is known, else the
    backbone's, said in one line (extract.known_weights)."""
    known = identify(path, sha256)
    if known is not None and known.backbone != backbone.name:
        raise WeightsError(f"Weights file {path.name} is {known.origin}, for backbone {known.backbone} (known by "
                           f"its checksum). Received: --backbone {backbone.name}")
    if known is not None and backbone.has_alpha and alpha is not None and known.alpha is not None \
            and float(alpha) != known.alpha:
        raise WeightsError(f"Weights file {path.name} is {known.origin}, of alpha {known.alpha:g}. "
                           f"Received: --alpha {alpha}")
    if known is not None:
        return ResolvedWeights(str(path), path, sha256, preprocess or known.preprocess,
                               _default_alpha(backbone, known.alpha if alpha is None else alpha), known.default_size,
                               "--preprocess" if preprocess else f"known file: {known.origin}")
    note = None if preprocess else (
        f"Weights file {path.name} has no MANIFEST.json entry and is no file this tool knows by its checksum: "
        f"assumed preprocessing {backbone.preprocess!r} (backbone {backbone.name}'s) and its default size unless "
        f"--size; a MANIFEST.json beside it (backbone, preprocess, default_size, sha256) or --preprocess says "
        f"otherwise.")
    return ResolvedWeights(str(path), path, sha256, preprocess or backbone.preprocess,
                           _default_alpha(backbone, alpha), None,
                           "--preprocess" if preprocess else "the backbone's (assumed)", note)


def resolve_weights(backbone: Backbone, weights: str, alpha: float | None = None,
                    preprocess: str | None = None) -> ResolvedWeights:
    _check_preprocess(preprocess)
    if weights == "none":
        return ResolvedWeights("none", None, f"random-init-seed{RANDOM_INIT_SEED}",
                               preprocess or backbone.preprocess, _default_alpha(backbone, alpha),
                               preprocess_from="--preprocess" if preprocess else "the backbone's")
    if weights == "imagenet":
        local = os.environ.get(WEIGHTS_DIR_ENV)
        if local:
            wanted_alpha = _default_alpha(backbone, alpha)
            for entry in read_manifest(Path(local)):
                entry_alpha = _default_alpha(backbone, entry.get("alpha"))
                if (entry.get("backbone") == backbone.name and not entry.get("include_top", False)
                        and entry_alpha == wanted_alpha and (Path(local) / entry["file"]).is_file()):
                    return _from_manifest_entry(backbone, Path(local) / entry["file"], entry, alpha, preprocess)
        # Keras downloads and caches its own file; its identity is taken from the tensors after loading.
        return ResolvedWeights("imagenet", None, "", preprocess or backbone.preprocess,
                               _default_alpha(backbone, alpha),
                               preprocess_from="--preprocess" if preprocess else "the backbone's (Keras's weights)")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"Weights file not found. Received: --weights {weights} (allowed: imagenet, none, or a file)")
    entry = next((e for e in read_manifest(path.parent) if e["file"] == path.name), None)
    if entry is not None:
        return _from_manifest_entry(backbone, path, entry, alpha, preprocess)
    return _from_known_file(backbone, path, file_sha256(path), alpha, preprocess)


def tensors_sha256(model) -> str:
    """Identity of weights that came without a file we can hash (Keras's own download)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.path.encode())
        digest.update(variable.numpy().tobytes())
    return "tensors-" + digest.hexdigest()
