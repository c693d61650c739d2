"""Duplicates of real images through a real backbone (MobileNet 0.25 at 128 px, ../shared/weights): generated
pictures with resized, re-encoded, cropped and identical copies; `extract run`'s leak note and
--group-duplicates; neighbours of a new image file. About 40 s on 2 cores (two small extractions).

Measured here (MobileNet 0.25, 4x4x256 features): flattened (the `auto` rule), the re-encoded copy
scores 0.984, the resized 0.986, the 6 %-cropped 0.939 (below the 0.95 default: a flattened grid is
position-sensitive), distinct pictures at most 0.71; average pooled, the copies 0.993/0.994/0.980
and distinct pictures at most 0.91.
"""
import shutil

import pytest
from PIL import Image

from extract import ExtractOptions, RunOptions
from extract.api import run_extraction
from extract.sources.options import DataOptions
from extract.sources.splits import split_by_name
from heads.inspection import find_duplicates, find_neighbours
from store import FeatureStore
from tests.planted import copy_of, jpeg, planted_images, shapes_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_small(tmp_path_factory):
    from tests.conftest import SHARED

    weights = SHARED / "weights" / "mobilenet_2_5_128_tf_no_top.h5"
    if not weights.is_file():
        pytest.skip(f"SKIPPED: real weights need ../shared/weights (not found at {weights})")
    return ExtractOptions(backbone="mobilenet", weights=str(weights), size=128, alpha=0.25)


@pytest.fixture(scope="module")
def extracted(real_small, tmp_path_factory):
    root = tmp_path_factory.mktemp("copies")
    planted = planted_images(root / "data")
    summary = run_extraction(root / "data", root / "store", real_small, RunOptions(batch_size=16))
    return planted, root / "store", summary


def test_copies_are_found_and_extract_run_names_the_leak(extracted):
    planted, store, summary = extracted
    leak = [note for note in summary.notes if note.code == "duplicates.leak"]
    assert len(leak) == 1 and leak[0].count == 3  # re-encoded, resized, identical (the crop scores 0.939)
    assert "heads inspect duplicates" in leak[0].message
    pooled = find_duplicates(store, reduce="avg").table
    groups = {tuple(sorted(members["path"])) for _, members in pooled.groupby("group")}
    assert groups == {tuple(sorted(pair)) for pair in planted.pairs + planted.exact}  # all 4, nothing else
    assert set(pooled.loc[pooled["leak"], "path"]) == {copy for _, copy in planted.pairs + planted.exact}


def test_neighbours_of_a_new_file_are_its_original_first(extracted, tmp_path):
    planted, store, _ = extracted
    original = planted.pairs[0][0]
    with Image.open(planted.root / original) as image:
        new = jpeg(copy_of(image.convert("RGB"), "resized"), tmp_path / "new.jpg", quality=80)
    table = find_neighbours(store, [new], k=2).table
    assert table["path"].iloc[0] in {original, planted.pairs[0][1]} and table["similarity"].iloc[0] > 0.95


def _other_split_name(stem: str, original: str) -> str:
    """A copy's file name the split rule puts in the other split than the original's."""
    for j in range(200):
        name = f"{stem}.copy{j}.jpg"
        if split_by_name(name, 0.2) != split_by_name(original, 0.2):
            return name
    raise AssertionError("no name found")


def test_group_duplicates_keeps_each_group_in_one_split(real_small, tmp_path):
    data = tmp_path / "data"
    pairs = []
    for i in range(16):
        for name in ("circles", "squares"):
            jpeg(shapes_image(1000 + i * 2 + (name == "squares")), data / name / f"{name}.{i}.jpg")
    for i, how in enumerate(("reencoded", "resized")):
        original = f"circles/circles.{i}.jpg"
        copy = f"circles/{_other_split_name(f'circles.{i}', f'circles.{i}.jpg')}"
        with Image.open(data / original) as image:
            jpeg(copy_of(image.convert("RGB"), how), data / copy)
        pairs.append((original, copy))
    identical = f"squares/{_other_split_name('squares.3', 'squares.3.jpg')}"
    shutil.copyfile(data / "squares/squares.3.jpg", data / identical)
    pairs.append(("squares/squares.3.jpg", identical))
    plain = run_extraction(data, tmp_path / "plain", real_small, RunOptions(batch_size=16))
    grouped = run_extraction(data, tmp_path / "grouped", real_small,
                             RunOptions(batch_size=16, data=DataOptions(group_duplicates=True)))
    split = dict(zip(*[getattr(FeatureStore(tmp_path / "grouped").dataset(), f) for f in ("paths", "splits")]))
    before = dict(zip(*[getattr(FeatureStore(tmp_path / "plain").dataset(), f) for f in ("paths", "splits")]))
    assert all(before[a] != before[b] for a, b in pairs)  # the rule alone splits them
    assert all(split[a] == split[b] for a, b in pairs)
    assert {n.code for n in grouped.notes} & {"duplicates.grouped"} and "moved" in " ".join(map(str, grouped.notes))
    assert not any(n.code == "duplicates.leak" for n in grouped.notes)
    assert [n.count for n in plain.notes if n.code == "duplicates.leak"] == [3]
    assert FeatureStore(tmp_path / "grouped").dataset().source["options"]["group_duplicates"] is True


def test_above_the_automatic_limit_a_run_points_at_the_command_instead(real_small, tmp_path, monkeypatch):
    """The exact neighbour graph grows with the square of the rows: above the limit a run does not build it
    (it says so in one note), unless --group-duplicates asks for it."""
    from extract import duplicate_check
    planted = planted_images(tmp_path / "data")
    monkeypatch.setattr(duplicate_check, "AUTO_CHECK_MAX_ROWS", 10)
    summary = run_extraction(planted.root, tmp_path / "store", real_small, RunOptions(batch_size=16))
    codes = {note.code: note for note in summary.notes}
    assert "duplicates.leak" not in codes
    assert "not checked automatically above 10 images" in codes["duplicates.unchecked"].message
    assert "heads inspect duplicates" in codes["duplicates.unchecked"].message
    grouped = run_extraction(planted.root, tmp_path / "grouped", real_small,
                             RunOptions(batch_size=16, data=DataOptions(group_duplicates=True)))
    assert "duplicates.unchecked" not in {note.code for note in grouped.notes}
    assert [n.count for n in grouped.notes if n.code == "duplicates.leak"] == [3]  # checked: folders give splits
