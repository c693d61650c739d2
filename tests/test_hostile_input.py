"""Hostile input: every file gets its documented outcome and the run goes on."""
import dataclasses

import numpy as np
import pytest

from extract.api import StrictModeError, run_extraction
from extract.decode import decode_rgb
from store import FeatureStore
from tests import hostile_corpus
from tests.conftest import TINY, TINY_RUN


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "data"
    return root, hostile_corpus.build(root)


def test_every_hostile_file_gets_its_outcome_and_the_run_goes_on(corpus, tmp_path):
    root, expected = corpus
    summary = run_extraction(root, tmp_path / "store", TINY, TINY_RUN)
    rejected = dict(summary.rejected)
    for path, outcome in expected.items():
        if outcome == "ok":
            assert path not in rejected, f"{path}: {rejected.get(path)}"
        else:
            assert outcome in rejected.get(path, ""), f"{path}: expected {outcome!r}, got {rejected.get(path)!r}"
    assert summary.skipped_hidden == 2
    view = FeatureStore(tmp_path / "store").view()
    usable = {p for p, o in expected.items() if o == "ok"} | {
        f"{s}/{c}/{c}.{s}.{i}.png" for s in ("train", "validation") for c in ("cats", "dogs") for i in range(3)}
    got = set(view.read("train").paths) | set(view.read("validation").paths)
    assert got == usable
    assert "empty_class" in view.class_names and "only_bad" in view.class_names  # kept, as Keras does


def test_strict_lists_every_unusable_file(corpus, tmp_path):
    root, expected = corpus
    with pytest.raises(StrictModeError) as error:
        run_extraction(root, tmp_path / "store", TINY, dataclasses.replace(TINY_RUN, strict=True))
    bad = {p for p, o in expected.items() if o != "ok"}
    scan_level = {p for p, o in expected.items() if o in ("empty file", "not an image", "unreadable")}
    assert scan_level <= {p for p, _ in error.value.rejected} <= bad


def test_colours_and_orientation_are_right(corpus):
    root, _ = corpus
    cats, dogs = root / "train" / "cats", root / "train" / "dogs"
    alpha = decode_rgb((cats / "alpha.png").read_bytes())
    assert tuple(alpha[0, 0]) == (0, 255, 0) and tuple(alpha[0, -1]) == (255, 255, 255)  # transparent -> white
    assert tuple(decode_rgb((cats / "sixteen_bit.png").read_bytes())[0, 0]) == (255, 255, 255)
    assert tuple(decode_rgb((cats / "grey.png").read_bytes())[0, 0]) == (90, 90, 90)
    cmyk = decode_rgb((cats / "cmyk.jpg").read_bytes())[5, 5].astype(int)
    assert cmyk[0] > 200 and cmyk[1] < 60 and cmyk[2] < 60  # C=0 M=Y=100%: red
    gif = decode_rgb((dogs / "animated.gif").read_bytes())
    assert gif.shape == (24, 24, 3) and tuple(gif[0, 0]) == (255, 255, 0)  # first frame
    rotated = decode_rgb((dogs / "rotated.jpg").read_bytes())
    assert rotated.shape == (60, 40, 3)  # turned upright: taller than wide
    top, bottom = rotated[2, 20].astype(int), rotated[-3, 20].astype(int)
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60  # red on top after 90 cw
    assert decode_rgb((dogs / "one_pixel.png").read_bytes()).shape == (1, 1, 3)
    np.testing.assert_array_equal(decode_rgb((dogs / "plain.bmp").read_bytes())[0, 0], (250, 0, 0))
