"""Decoding one image file to RGB uint8, the same way for every format and every stage.

Pillow handles what a tf.io decoder does not: EXIF orientation, CMYK JPEGs, 16-bit and
palette PNGs, transparency, and a pixel limit against decompression bombs.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import time
import warnings

import numpy as np
from PIL import Image, ImageOps

from extract.sources.reading import DEFAULT_MAX_IMAGE_MB

MAX_PIXELS = 64_000_000  # 8000 x 8000; more is a decompression bomb or not a photo to classify


class DecodeError(ValueError):
    pass


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of letting convert() clip at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array * (255.0 / peak), 0, 255).round().astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)  # transparent pixels become white
    return image.convert("RGB")


def decode_rgb(data: bytes) -> np.ndarray:
    """HxWx3 uint8 in display orientation; raises DecodeError with a one-line reason."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DecodeError(f"image too large: {width}x{height} pixels (limit {MAX_PIXELS:,})")
                image.seek(0)  # first frame of an animation
                image.load()
                rgb = _to_rgb(ImageOps.exif_transpose(image))
                return np.asarray(rgb, dtype=np.uint8)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DecodeError(f"image too large: {error}") from None
    except Image.UnidentifiedImageError:
        raise DecodeError("cannot decode: unrecognised image data") from None
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError... by format
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DecodeError(f"cannot decode: {re.sub(r' at 0x[0-9a-f]+', '', message)}") from None


def read_regular(path: str, max_image_mb: float = DEFAULT_MAX_IMAGE_MB) -> tuple[bytes | None, str]:
    """A file's bytes, or None and why: a file swapped for a FIFO or a device since the scan is
    never read (the open does not block), nor more than the size limit."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return None, f"unreadable: {error.strerror or error}"
    try:
        mode, limit = os.fstat(fd).st_mode, int(max_image_mb * 1024 * 1024)
        if not stat.S_ISREG(mode):
            return None, "not a regular file: not read"
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        return (data, "") if len(data) <= limit else (None, f"larger than the size limit ({max_image_mb:g} MB): not read")
    except OSError as error:
        return None, f"unreadable: {error.strerror or error}"
    finally:
        os.close(fd)


def read_and_decode(path: str, seconds: dict[str, float] | None = None) -> tuple[np.ndarray | None, str, str]:
    """Read and decode one image file (a regular file only, of a sane size).

    Parameters
    ----------
    path : str
        The file.
    seconds : dict, optional
        The seconds spent reading and decoding are added to its "read" and "decode" keys (extract.stages).

    Returns
    -------
    tuple of (ndarray or None, str, str)
        (RGB image uint8 (h, w, 3) or None, sha256 of the bytes actually read, reason when None).
    """
    seconds = seconds if seconds is not None else {}
    started = time.perf_counter()
    data, reason = read_regular(path)
    read = time.perf_counter()
    seconds["read"] = seconds.get("read", 0.0) + read - started
    if data is None:
        return None, "", reason
    digest = hashlib.sha256(data).hexdigest()
    try:
        return decode_rgb(data), digest, ""
    except DecodeError as error:
        return None, digest, str(error)
    finally:
        seconds["decode"] = seconds.get("decode", 0.0) + time.perf_counter() - read
