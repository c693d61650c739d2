"""Shared fixtures: synthetic folder-per-class images and the path to ../shared."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from extract.options import ExtractOptions, RunOptions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))
# Random-init MobileNet activations shrink about 100x every two blocks (1e-17 at the top at 32 px),
# so tests cut it after its first block, where features still carry the image (|f| ~ 0.02).
TINY = ExtractOptions(backbone="mobilenet", weights="none", size=32, alpha=0.25, layer="conv_pw_1_relu")
TINY_RUN = RunOptions(batch_size=8)


def cli_flags(extractor: ExtractOptions, run: RunOptions) -> list[str]:
    """The `extract run` flags giving these option objects: the backbone, then every field not at its default
    (only plain values: a field holding a flag, a list or an object is refused rather than written wrong)."""
    flags = ["--backbone", extractor.backbone]
    for options, default in ((extractor, ExtractOptions(extractor.backbone)), (run, RunOptions())):
        for name in (f.name for f in dataclasses.fields(options)):
            value = getattr(options, name)
            if name == "backbone" or value == getattr(default, name):
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"cli_flags writes plain values only. Received: {name}={value!r}")
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags

# A class is a colour: images a head can tell apart, and a tiny base can tell apart too.
CLASS_COLOURS = {"cats": (200, 60, 40), "dogs": (40, 80, 200), "birds": (60, 190, 70)}


def make_image(path: Path, colour, seed: int, size=(40, 48), fmt: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-40, 40, (size[1], size[0], 3))
    pixels = np.clip(np.array(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def make_dataset(root: Path, per_class: int = 6, classes=("cats", "dogs"), splits=("train", "validation"),
                 ext: str = "png", seed: int = 0) -> Path:
    """DATA/<split>/<class>/<class>.<i>.<ext> (or DATA/<class>/... when splits is empty)."""
    counter = seed * 10_000
    for split in splits or (None,):
        for name in classes:
            folder = root / split / name if split else root / name
            for i in range(per_class):
                counter += 1
                make_image(folder / f"{name}.{split or 'all'}.{i}.{ext}", CLASS_COLOURS[name], counter)
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


SYNTHETIC_WEIGHTS = "mobilenet_synthetic_0_25_no_top.weights.h5"


@pytest.fixture(scope="session")
def synthetic_weights_dir(tmp_path_factory) -> Path:
    """A seeded random MobileNet alpha 0.25 no-top weights file and its MANIFEST.json: for the
    tests that need a real weights file but not real features (checksums, refusals)."""
    import json

    import keras

    from store.shards import file_sha256

    folder = tmp_path_factory.mktemp("synthetic_weights")
    keras.utils.set_random_seed(1)
    base = keras.applications.MobileNet(include_top=False, weights=None, alpha=0.25, input_shape=(32, 32, 3))
    base.save_weights(str(folder / SYNTHETIC_WEIGHTS))
    (folder / "MANIFEST.json").write_text(json.dumps([{
        "file": SYNTHETIC_WEIGHTS, "sha256": file_sha256(folder / SYNTHETIC_WEIGHTS), "backbone": "mobilenet",
        "alpha": 0.25, "include_top": False, "preprocess": "tf", "origin": "seeded random init (tests)"}]))
    return folder


@pytest.fixture
def synthetic_weights(tmp_path, synthetic_weights_dir) -> Path:
    """A copy the test may edit: the folder holding the file and its MANIFEST.json."""
    import shutil

    return Path(shutil.copytree(synthetic_weights_dir, tmp_path / "weights"))


def only_line(result) -> str:
    """The one line a CLI refusal writes on stderr (it holds nothing else: no stage, no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def pytest_terminal_summary(terminalreporter) -> None:
    """CI says how many checks did not run for want of ../shared or of a tool (a browser, a package): such a
    skip tests nothing, so .ci/run installs what they need and this line shows whether it worked."""
    skipped = [str(report.longrepr) for report in terminalreporter.stats.get("skipped", [])]
    shared = sum("../shared" in reason for reason in skipped)
    # a tool missing: "no ... installed", "... is not installed" (not "pandas is installed: ...")
    tools = sum("../shared" not in reason and ("not installed" in reason or "no headless" in reason)
                for reason in skipped)
    terminalreporter.write_line(f"skipped for want of ../shared: {shared}; for want of a tool: {tools}; "
                                f"other skips: {len(skipped) - shared - tools}")


@pytest.fixture
def shared_weights() -> Path:
    weights = SHARED / "weights"
    if not (weights / "MANIFEST.json").is_file():
        pytest.skip(f"SKIPPED: real weights need ../shared/weights (not found at {weights})")
    return weights


def assert_features_close(got, want, rtol: float = 1e-2) -> None:
    """Equal up to float16 storage, relative to the features' own scale (random-init bases give
    small activations, where a fixed absolute tolerance would accept anything)."""
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    scale = float(np.abs(want).max())
    assert scale > 0, "features are all zero: the comparison would prove nothing"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)
