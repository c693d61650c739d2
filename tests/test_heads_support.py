"""Builders shared by the heads tests: separable synthetic features, image folders and tiny stores.

Stores are built once per test process (the tiny MobileNet at 32 px, random weights)
and copied when a test needs one of its own. No tests here.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from extract.options import ExtractOptions, RunOptions  # noqa: E402

COLOURS = {"cats": (210, 50, 40), "dogs": (30, 70, 210), "birds": (50, 200, 60),
           "unknown": (200, 190, 40)}  # a class whose name is also --threshold's label
# Its weights are a test's tiny_weights file: dataclasses.replace(TINY, weights=str(path)).
TINY = ExtractOptions(backbone="mobilenet", size=32, alpha=0.25, layer="conv_pw_5_relu")
TINY_RUN = RunOptions(batch_size=16, shard_size=8)
_BUILT: dict = {}  # name -> a store built once per process (or the joined store's description)


def features(n_per_class: int = 30, n_classes: int = 2, shape=(2, 2, 6), seed: int = 0, spread: float = 0.6):
    """Gaussian blobs, one per class, in a spatial feature shape (float16 like a store)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, *shape)) * 2.0
    X = np.concatenate([centres[c] + spread * rng.normal(size=(n_per_class, *shape)) for c in range(n_classes)])
    y = np.repeat(np.arange(n_classes), n_per_class)
    order = rng.permutation(len(y))
    return X[order].astype(np.float16), y[order]


def image(path: Path, colour, seed: int, size=(40, 36)) -> Path:
    """The class colour, varied in brightness and with pixel noise: each image unique, classes apart."""
    rng = np.random.default_rng(seed)
    pixels = np.array(colour)[None, None, :] * rng.uniform(0.8, 1.1) + rng.integers(-25, 25, (size[1], size[0], 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


def image_folder(root: Path, classes=("cats", "dogs"), train: int = 12, validation: int = 6, seed: int = 0) -> Path:
    counter = seed * 100_000
    for split, count in (("train", train), ("validation", validation)):
        for name in classes:
            for i in range(count):
                counter += 1
                image(root / split / name / f"{name}.{split}.{i}.png", COLOURS[name], counter)
    return root


def new_images(root: Path, classes=("cats", "dogs"), count: int = 3, seed: int = 999) -> Path:
    """Images no store has seen, folder per class (for predict)."""
    counter = seed * 100_000
    for name in classes:
        for i in range(count):
            counter += 1
            image(root / name / f"new.{name}.{i}.png", COLOURS[name], counter)
    return root


def tiny_weights(path: Path, seed: int = 0) -> Path:
    """Random MobileNet (alpha 0.25, 32 px) weights whose batch-norm statistics are set from images.

    With plain random weights the activations die out layer by layer (all zeros at the top);
    re-estimating each batch norm's statistics on real inputs, bottom to top, keeps every
    layer's output near unit scale, so features separate the classes as pretrained ones would.
    """
    import keras

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.25)
    rng = np.random.default_rng(seed)
    colours = np.array(list(COLOURS.values()))[rng.integers(0, len(COLOURS), 48)]
    images = (np.clip(colours[:, None, None, :] + rng.integers(-60, 60, (48, 32, 32, 3)), 0, 255) / 127.5 - 1.0
              ).astype(np.float32)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            inputs = keras.ops.convert_to_numpy(keras.Model(base.input, layer.input)(images, training=False))
            gamma, beta, _, _ = layer.get_weights()
            statistics = [inputs.mean(axis=(0, 1, 2)), inputs.var(axis=(0, 1, 2)) + 1e-3]
            layer.set_weights([gamma, beta, *(s.astype(np.float32) for s in statistics)])
    path.parent.mkdir(parents=True, exist_ok=True)
    base.save_weights(path)
    return path


def built_store(base: Path, name: str, classes=("cats", "dogs"), seed: int = 1, **options) -> Path:
    """A store extracted once per process under `base` (tmp_path_factory's), keyed by name.

    The same seed gives the same images, whichever store a test run happens to build first."""
    if name not in _BUILT:
        from extract.api import run_extraction

        weights = base / "tiny_mobilenet.weights.h5"
        if not weights.is_file():
            tiny_weights(weights)
        data = image_folder(base / f"data-{name}", classes, seed=seed)
        store = base / f"store-{name}"
        run_extraction(data, store, dataclasses.replace(TINY, weights=str(weights), **options), TINY_RUN)
        _BUILT[name] = store
    return _BUILT[name]


def private_copy(store: Path, target: Path) -> Path:
    """A copy of a built store (heads written into it stay out of the shared one)."""
    shutil.copytree(store, target)
    return target


# -- fixtures (import them into a test module to use them) --------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def binary_store(tmp_path_factory) -> Path:
    return built_store(tmp_path_factory.getbasetemp(), "binary")


@pytest.fixture(scope="session")
def multi_store(tmp_path_factory) -> Path:
    return built_store(tmp_path_factory.getbasetemp(), "multi", classes=("birds", "cats", "dogs"), seed=2)


@pytest.fixture(scope="session")
def pooled_store(tmp_path_factory) -> Path:
    """The binary images under another configuration (pooled features): a head of one must refuse the other."""
    return built_store(tmp_path_factory.getbasetemp(), "pooled", pool="avg")


# a second, different backbone: features of shape (2, 2, 24) beside the first's (4, 4, 64)
SECOND = ExtractOptions(backbone="mobilenet_v2", weights="none", size=32, alpha=0.35, layer="block_6_project_BN")


def shuffled_copy(data: Path, target: Path, leave_out: int = 1) -> tuple[Path, list[Path]]:
    """The same images under other names (so the store holds them in another order), minus the first
    `leave_out` train images: returns the copy and the originals left out."""
    originals = sorted(p for p in data.rglob("*.png"))
    left_out = [p for p in originals if "/train/" in p.as_posix()][:leave_out]
    for number, path in enumerate(reversed(originals)):
        if path in left_out:
            continue
        relative = path.relative_to(data)
        copy = target / relative.parent / f"{number:03d}-{relative.name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    return target, left_out


@pytest.fixture(scope="session")
def joined_store(tmp_path_factory, binary_store) -> dict:
    """The binary store plus a second backbone's features of the same images, extracted from a renamed copy
    (another order in its shards) that lacks one train image: a head joins the two by content hash."""
    from extract.api import run_extraction
    from store import FeatureStore

    if "joined" in _BUILT:  # imported by several test modules: built once per process all the same
        return _BUILT["joined"]
    base = tmp_path_factory.getbasetemp()
    store = private_copy(binary_store, base / "store-joined")
    data = Path(FeatureStore(store).dataset().data_root)
    copy, left_out = shuffled_copy(data, base / "data-joined-copy")
    run_extraction(copy, store, SECOND, TINY_RUN)
    configs = {c.backbone: c for c in FeatureStore(store).configs()}
    _BUILT["joined"] = {"store": store, "data": data, "dataset": data.name, "left_out": left_out,
                        "first": configs["mobilenet"], "second": configs["mobilenet_v2"]}
    return _BUILT["joined"]
