"""The images `heads export` checks the written model on, and what `heads predict` gives for them.

A store image is a fair check only while its file still holds the content the store's features
were extracted from: a file replaced since (same name, other bytes) would make an exact export
look wrong. So each candidate's bytes are hashed and compared with the index's content hash
before use, the decoded bytes are compared again, and the images left out are counted in a note.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from extract.augment import FixedView
from heads.artifact import LoadedHead
from heads.tta import average, file_probabilities, view_inputs
from store.shards import file_sha256

TRIES_PER_IMAGE = 50  # candidates hashed per image asked, at most: a data folder replaced whole costs bounded time


@dataclass
class CheckImages:
    """Check images, resized as the exported model takes them, with the probabilities `heads predict` gives."""

    paths: list[Path]
    images: np.ndarray  # (n, S, S, 3) float32, 0..255
    expected: np.ndarray  # (n, classes): the head on the stored features (averaged over the views when asked)
    notes: list[str] = field(default_factory=list)


def _candidates(loaded: LoadedHead, views, count: int) -> tuple[list[tuple[Path, str]], list[str]]:
    """Up to `count` (path, hash) of store images whose file still holds the content extracted (validation
    split first), and a note on the ones left out."""
    index = views[0].index
    order = sorted(range(len(index.paths)), key=lambda i: index.splits[i] != "validation")
    picked, stale, tried = [], 0, 0
    for i in order:
        if len(picked) == count or tried >= TRIES_PER_IMAGE * count:
            break
        path, content = index.absolute(i), index.hashes[i]
        if not content or not loaded.inputs.present(views, [content])[0] or not path.is_file():
            continue
        tried += 1
        try:
            same = file_sha256(path) == content
        except OSError:
            same = False
        if same:
            picked.append((path, content))
        else:
            stale += 1
    notes = []
    if stale:
        notes.append(f"{stale} store images changed on disk since they were extracted (their content no longer "
                     f"matches the stored hash; e.g. a file replaced): not used to check the export.")
    return picked, notes


def check_images(loaded: LoadedHead, store: str | Path | None, count: int, size: int,
                 views: list[FixedView] = ()) -> CheckImages:
    """Up to `count` store images still on disk with their extracted content, decoded and resized to `size`
    as extraction does (the resize mode of the input configuration of that size), and the probabilities
    `heads predict` gives them (stored features; with `views`, averaged over them as `--tta` does).

    Parameters
    ----------
    loaded : LoadedHead
        The head being exported.
    store : path or None
        The store to check against (None: the head's own, when it still exists).
    count : int
        Images wanted; fewer when fewer remain (said in `notes`).
    size : int
        The exported model's input side.
    views : list of FixedView
        The test-time views inside the exported model.

    Returns
    -------
    CheckImages
    """
    shape = (0, size, size, 3)
    empty = CheckImages([], np.zeros(shape, np.float32), np.zeros((0, len(loaded.columns))))
    if count <= 0:
        return empty
    given, store = store is not None, store if store is not None else loaded.store
    stored_views = loaded.inputs.views(store, head_id=loaded.head_id, required=given)
    if not stored_views or stored_views[0].index is None:
        empty.notes.append(f"No store at {store} to check the export against: not compared.")
        return empty
    picked, notes = _candidates(loaded, stored_views, count)
    extractor = next(e for e in loaded.inputs.extractors() if int(e.config.size) == size)
    images, digests, reasons = extractor.load_images([str(path) for path, _ in picked])
    keep = [i for i, ((_, content), digest, reason) in enumerate(zip(picked, digests, reasons))
            if not reason and digest == content]  # the bytes decoded are the bytes extracted
    picked = [picked[i] for i in keep]
    if len(picked) < count:
        notes.append(f"Only {len(picked)} of the {count} check images asked still hold the content the store "
                     f"extracted: the export is compared with `heads predict` on {len(picked)}.")
    if not picked:
        return CheckImages([], np.zeros(shape, np.float32), np.zeros((0, len(loaded.columns))), notes)
    hashes = [content for _, content in picked]
    expected = loaded.predict_parts(loaded.inputs.stored(stored_views, hashes))
    if views:
        inputs = view_inputs(loaded.inputs, len(views))
        expected = average(expected, file_probabilities(loaded.model, inputs, store,
                                                        [str(path) for path, _ in picked], hashes))
    return CheckImages([path for path, _ in picked], images[keep], np.asarray(expected, np.float32), notes)
