"""Generated data with planted problems, for the tests of heads.inspection and extract's duplicate check.

Two kinds: images (random shapes on random backgrounds, with resized, re-encoded and cropped copies
of some planted across splits) for a real backbone, and a store written directly from feature
arrays (clusters per class, with planted near copies, exact copies, label flips and outliers) for
the analyses themselves, in milliseconds and without TensorFlow.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from store import DatasetIndex, ExtractorConfig, init_store
from store.config import write_config
from store.datasets import write_dataset
from store.shards import ShardContent, write_shard

COPIES = ("reencoded", "resized", "cropped")


def shapes_image(seed: int, size: int = 160) -> Image.Image:
    """A picture of random shapes on a random two-colour background (distinct for each seed)."""
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, size)[:, None, None]
    pixels = (top * (1 - ramp) + bottom * ramp).repeat(size, axis=1).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = rng.integers(0, size - 20, 2)
        x1, y1 = x0 + rng.integers(15, size // 2), y0 + rng.integers(15, size // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif shape == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(3, 10)))
    return image


def jpeg(image: Image.Image, path: Path, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, format="JPEG", quality=quality)
    return path


def copy_of(image: Image.Image, how: str) -> Image.Image:
    """A near copy: re-encoded at JPEG quality 60, resized to 75 %, or cropped by 6 % at each side."""
    if how == "reencoded":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=60)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if how == "resized":
        return image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.BILINEAR)
    margin = image.width * 6 // 100
    return image.crop((margin, margin, image.width - margin, image.height - margin))


@dataclass
class PlantedImages:
    root: Path
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (original, copy) paths under root
    exact: list[tuple[str, str]] = field(default_factory=list)  # identical files


def planted_images(root: Path, per_class: int = 12, classes=("circles", "squares")) -> PlantedImages:
    """DATA/<split>/<class>/*.jpg: distinct generated pictures, plus one near copy of some train images
    (each kind of copy) in validation, and an identical file of one train image in validation."""
    planted = PlantedImages(root)
    seed = 0
    for split, count in (("train", per_class), ("validation", per_class // 2)):
        for name in classes:
            for i in range(count):
                seed += 1
                jpeg(shapes_image(seed), root / split / name / f"{name}.{split}.{i}.jpg")
    for number, how in enumerate(COPIES):
        name = classes[number % len(classes)]
        original = f"train/{name}/{name}.train.{number}.jpg"
        copy = f"validation/{name}/{name}.copy.{how}.jpg"
        with Image.open(root / original) as image:
            jpeg(copy_of(image.convert("RGB"), how), root / copy)
        planted.pairs.append((original, copy))
    original = f"train/{classes[0]}/{classes[0]}.train.5.jpg"
    identical = f"validation/{classes[0]}/{classes[0]}.identical.jpg"
    (root / identical).write_bytes((root / original).read_bytes())
    planted.exact.append((original, identical))
    return planted


@dataclass
class PlantedStore:
    root: Path
    config_id: str
    near: list[tuple[str, str]]  # (original, near copy) paths
    exact: list[tuple[str, str]]  # (original, identical content) paths
    flipped: list[str]  # paths whose label was flipped
    outliers: list[str]


def planted_store(root: Path, per_class: int = 60, classes=("a", "b", "c"), shape=(2, 2, 16), seed: int = 0,
                  plant: bool = True, spread: float = 0.9) -> PlantedStore:
    """A store written from feature arrays: a cluster per class (train `per_class`, validation a third of it),
    with planted near copies (similarity ~0.99; across splits and within train), exact copies, label flips
    in train and outliers (random directions). plant=False: the clean data alone."""
    rng = np.random.default_rng(seed)
    width = int(np.prod(shape))
    centres = rng.standard_normal((len(classes), width)) * 1.0
    rows: list[tuple[str, int, str, np.ndarray]] = []
    for split, count in (("train", per_class), ("validation", per_class // 3)):
        for label, name in enumerate(classes):
            for i in range(count):
                vector = centres[label] + spread * rng.standard_normal(width)
                rows.append((f"{split}/{name}/{name}.{split}.{i}.png", label, split, vector))
    near, exact, flipped, outliers = [], [], [], []
    if plant:
        for i in range(8):  # near copies: 5 of train images into validation (leaks), 3 within train
            path, label, _, vector = rows[i * 7]
            split = "validation" if i < 5 else "train"
            copy = f"{split}/{classes[label]}/{classes[label]}.copy.{i}.png"
            rows.append((copy, label, split, vector + 0.08 * spread * rng.standard_normal(width)))
            near.append((path, copy))
        for i in range(2):  # exact copies: the same content under another name, in validation
            path, label, _, vector = rows[i * 11 + 5]
            copy = f"validation/{classes[label]}/{classes[label]}.same.{i}.png"
            rows.append((copy, label, "validation", vector))
            exact.append((path, copy))
        for i in range(6):  # label flips in train, away from the copies above
            position = 100 + i * 13
            path, label, split, vector = rows[position]
            rows[position] = (path, (label + 1) % len(classes), split, vector)
            flipped.append(path)
        for i in range(4):  # outliers: far from every class
            label = i % len(classes)
            path = f"train/{classes[label]}/{classes[label]}.odd.{i}.png"
            rows.append((path, label, "train", 4.0 * rng.standard_normal(width)))
            outliers.append(path)
    config = write_rows(root, rows, list(classes), shape, {p: q for p, q in exact})
    return PlantedStore(root, config.config_id, near, exact, flipped, outliers)


def write_rows(root: Path, rows, classes: list[str], shape, same_as: dict[str, str]) -> ExtractorConfig:
    """A store holding `rows` (path, label, split, vector) as one configuration and one dataset;
    a path in `same_as` (copy -> original) gets its original's content hash."""
    layout = init_store(root)
    config = ExtractorConfig("mobilenet", "random-init-seed0", "tf", 32, "planted", feature_shape=tuple(shape))
    write_config(layout, config)
    hash_of = {path: f"{i:064x}" for i, (path, *_rest) in enumerate(rows)}
    for copy, original in same_as.items():
        hash_of[copy] = hash_of[original]
    features = np.stack([r[3] for r in rows]).reshape(len(rows), *shape).astype(np.float16)
    distinct = {}
    for (path, *_rest), feature in zip(rows, features):
        distinct.setdefault(hash_of[path], feature)
    write_shard(layout.shards_dir(config.config_id), config.config_id,
                ShardContent(list(distinct), np.stack(list(distinct.values())), [], []))
    paths = [r[0] for r in rows]
    write_dataset(layout, DatasetIndex(name="planted", data_root=str(root / "data"), classes=classes, paths=paths,
                                       labels=[r[1] for r in rows], splits=[r[2] for r in rows],
                                       hashes=[hash_of[r[0]] for r in rows], reasons=[""] * len(rows),
                                       source={"layout": "planted"}))
    return config
