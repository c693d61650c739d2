"""A corpus of hostile files, generated on the fly: each with the outcome it must have.

`expected` maps a path (relative to the data root) to "ok" or to a fragment of the
rejection reason.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import make_dataset


def _jpeg(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A valid small PNG whose header declares a huge size."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def orientation_probe() -> Image.Image:
    """Left half red, right half blue: easy to tell which way it was turned."""
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :30] = (255, 0, 0)
    pixels[:, 30:] = (0, 0, 255)
    return Image.fromarray(pixels)


def build(root: Path) -> dict[str, str]:
    make_dataset(root, per_class=3)
    cats, dogs = root / "train" / "cats", root / "train" / "dogs"
    expected: dict[str, str] = {}

    def put(folder: Path, name: str, data: bytes, outcome: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        expected[(folder / name).relative_to(root).as_posix()] = outcome

    good_jpeg = _jpeg(Image.new("RGB", (64, 48), (120, 30, 30)))
    put(cats, "truncated.jpg", good_jpeg[: len(good_jpeg) // 2], "cannot decode")
    put(cats, "zero.jpg", b"", "empty file")
    put(cats, "text.jpg", b"just some text, saved as a JPEG by mistake\n", "not an image")
    put(cats, "page.jpg", b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "not an image")
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    rgba.paste((0, 255, 0, 255), (0, 0, 16, 32))
    buffer = io.BytesIO(); rgba.save(buffer, "PNG"); put(cats, "alpha.png", buffer.getvalue(), "ok")
    sixteen = Image.fromarray(np.full((20, 20), 65535, np.uint16))
    buffer = io.BytesIO(); sixteen.save(buffer, "PNG"); put(cats, "sixteen_bit.png", buffer.getvalue(), "ok")
    buffer = io.BytesIO(); Image.new("L", (30, 30), 90).save(buffer, "PNG"); put(cats, "grey.png", buffer.getvalue(), "ok")
    buffer = io.BytesIO(); Image.new("RGB", (30, 30), (10, 200, 10)).convert("P").save(buffer, "PNG")
    put(cats, "palette.png", buffer.getvalue(), "ok")
    put(cats, "cmyk.jpg", _jpeg(Image.new("CMYK", (30, 30), (0, 255, 255, 0))), "ok")
    frames = [Image.new("RGB", (24, 24), c) for c in ((255, 255, 0), (0, 0, 0))]
    buffer = io.BytesIO(); frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    put(dogs, "animated.gif", buffer.getvalue(), "ok")
    buffer = io.BytesIO(); Image.new("RGB", (30, 30), (0, 0, 250)).save(buffer, "WEBP", lossless=True)
    put(dogs, "lossless.webp", buffer.getvalue(), "ok")
    buffer = io.BytesIO(); Image.new("RGB", (30, 30), (250, 0, 0)).save(buffer, "BMP"); put(dogs, "plain.bmp", buffer.getvalue(), "ok")
    exif = Image.Exif(); exif[0x0112] = 6  # display rotated 90 degrees clockwise
    put(dogs, "rotated.jpg", _jpeg(orientation_probe(), exif=exif.tobytes(), quality=95), "ok")
    put(dogs, "one_pixel.png", _png_of(Image.new("RGB", (1, 1), (7, 7, 7))), "ok")
    put(dogs, "large.jpg", _jpeg(Image.new("RGB", (6000, 4000), (50, 60, 70)), quality=50), "ok")
    put(dogs, "bomb.png", _png_bomb(60_000, 60_000), "too large")
    put(dogs, "name with spaces.png", _png_of(Image.new("RGB", (9, 9), (1, 2, 3))), "ok")
    put(dogs, "ünïcödé_猫.png", _png_of(Image.new("RGB", (9, 9), (4, 5, 6))), "ok")
    put(dogs, "--leading-dashes.png", _png_of(Image.new("RGB", (9, 9), (7, 8, 9))), "ok")
    (dogs / "loop.jpg").symlink_to(dogs / "loop.jpg")
    expected["train/dogs/loop.jpg"] = "unreadable"
    (dogs / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    expected["train/dogs/dangling.jpg"] = "unreadable"
    locked = dogs / "locked.png"
    locked.write_bytes(_png_of(Image.new("RGB", (9, 9), (9, 9, 9))))
    os.chmod(locked, 0)
    expected["train/dogs/locked.png"] = "ok" if os.geteuid() == 0 else "unreadable"  # root reads anyway
    (dogs / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (cats / "._resource_fork.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "train" / "empty_class").mkdir()
    put(root / "train" / "only_bad", "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "cannot decode")
    return expected


def _png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
