"""Image files to model inputs with Pillow and NumPy only: read, decode, resize.

This is what a decode worker process runs, so it imports no TensorFlow: the resize is
extract.resize_weights' NumPy form of extraction's antialiased bilinear resize (within 1e-4 of
TensorFlow's kernel on 0..255 pixels, tested on real JPEGs), so the features keep their
configuration id whichever input path computed them.
"""
from __future__ import annotations

import time

import numpy as np

from extract.decode import read_and_decode
from extract.resize_weights import resize_image

Prepared = tuple[np.ndarray | None, str, str]  # (size x size x 3 float32 or None, content hash, reason)


def prepare_image(path: str, size: int, resize: str, seconds: dict[str, float] | None = None) -> Prepared:
    """One file as the model's input, or None and why (an unreadable or undecodable file).

    Parameters
    ----------
    path : str
        The image file.
    size : int
        The side of the square input.
    resize : str
        `squash`, `crop` or `pad` (extract.resize_weights.RESIZE_MODES).
    seconds : dict, optional
        Where to add the seconds spent reading, decoding and resizing.

    Returns
    -------
    tuple
        (float32 image in 0..255 or None, sha256 of the bytes read ("" when none were), reason ("" when usable)).
    """
    seconds = seconds if seconds is not None else {}
    image, digest, reason = read_and_decode(path, seconds)
    if image is None:
        return None, digest, reason
    started = time.perf_counter()
    resized = resize_image(image, size, resize)
    seconds["resize"] = seconds.get("resize", 0.0) + time.perf_counter() - started
    return resized, digest, ""


def prepare_chunk(paths: list[str], size: int, resize: str) -> tuple[list[Prepared], dict[str, float]]:
    """Several files at once (one message to and from a worker process), with the seconds per stage."""
    seconds: dict[str, float] = {}
    return [prepare_image(path, size, resize, seconds) for path in paths], seconds
