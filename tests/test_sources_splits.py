"""The split rule: stable per file name, seeded, with a test share and a per-class minimum."""
import hashlib
import itertools
from collections import Counter

import pytest

from extract.scan import ScanError, scan_dataset, split_by_name
from extract.sources.splits import name_bucket, normalise_split
from tests.conftest import make_dataset, make_image


def legacy_split(file_name: str, val_fraction: float) -> str:
    """The rule of earlier versions, written out: seed 0 without a test share must give the same."""
    stem = file_name.rsplit(".", 1)[0].split("_nohash_")[0]
    bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % 10_000
    return "validation" if bucket < val_fraction * 10_000 else "train"


def by_class(root, counts: dict[str, int], seed: int = 0):
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            make_image(root / name / f"{name}_{seed}_{i}.png", (40 * c, 80, 120), 1000 * c + i)
    return root


@pytest.mark.parametrize("given,split", [
    ("val", "validation"), ("VALID", "validation"), ("Dev", "validation"), ("validation", "validation"),
    ("test", "test"), ("Testing", "test"), ("training", "train"), ("Train", "train"), ("holdout", "holdout"),
])
def test_split_names_are_normalised(given, split):
    assert normalise_split(given) == split


def test_seed_zero_without_a_test_share_is_the_earlier_rule():
    names = [f"img{i}.jpg" for i in range(2000)] + ["a_nohash_1.jpg", "a_nohash_2.jpg"]
    for fraction in (0.1, 0.25, 0.5):
        assert [split_by_name(n, fraction) for n in names] == [legacy_split(n, fraction) for n in names]


def test_a_seed_gives_another_split_reproducibly():
    names = [f"img{i}.jpg" for i in range(1000)]
    seeded = [split_by_name(n, 0.3, seed=7) for n in names]
    assert seeded == [split_by_name(n, 0.3, seed=7) for n in names]
    assert seeded != [split_by_name(n, 0.3) for n in names]
    assert 0.25 < seeded.count("validation") / len(names) < 0.35
    assert split_by_name("a_nohash_1.jpg", 0.5, seed=3) == split_by_name("a_nohash_2.jpg", 0.5, seed=3)


def test_a_test_share_takes_from_train_only_and_never_overlaps_validation():
    names = [f"img{i}.jpg" for i in range(4000)]
    before = [split_by_name(n, 0.2) for n in names]
    after = [split_by_name(n, 0.2, 0.15) for n in names]
    assert [b == "validation" for b in before] == [a == "validation" for a in after]
    assert all(b == "train" for b, a in zip(before, after) if a == "test")
    share = Counter(after)
    assert 0.12 < share["test"] / len(names) < 0.18 and 0.17 < share["validation"] / len(names) < 0.23


@pytest.mark.parametrize("seed", range(12))
def test_small_classes_still_get_train_validation_and_test_images(tmp_path, seed):
    sizes = {"cats": 1, "dogs": 2, "birds": 3, "apes": 4, "eels": 40}
    root = by_class(tmp_path / "d", sizes)
    scan = scan_dataset(root, val_fraction=0.2, test_fraction=0.1, split_seed=seed)
    per_class = {name: Counter() for name in sizes}
    for entry in scan.usable():
        per_class[scan.classes[entry.label]][entry.split] += 1
    for name, n in sizes.items():
        counts = per_class[name]
        assert counts["train"] >= 1, (name, counts)
        assert counts["validation"] >= (1 if n >= 2 else 0), (name, counts)
        assert counts["test"] >= (1 if n >= 3 else 0), (name, counts)
        assert sum(counts.values()) == n


def test_the_file_nearest_to_the_missing_split_is_the_one_moved(tmp_path):
    names = (f"pic{i}" for i in itertools.count())
    train_side = [n for n in itertools.islice(names, 200) if name_bucket(n + ".png")[0] >= 2000][:3]
    root = tmp_path / "d"
    for i, name in enumerate(train_side):
        make_image(root / "rare" / f"{name}.png", (200, 0, 0), i)
    by_class(root, {"common": 30})
    scan = scan_dataset(root, val_fraction=0.2)
    rare = {e.path.split("/")[1][:-4]: e.split for e in scan.entries if e.path.startswith("rare/")}
    nearest = min(train_side, key=lambda n: name_bucket(n + ".png")[0])
    assert rare == {n: "validation" if n == nearest else "train" for n in train_side}
    [note] = [n for n in scan.notes if n.code == "splits.moved"]
    assert note.count == 1 and note.message.endswith(": rare") and note.examples == (f"rare/{nearest}.png",)


def test_adding_files_never_moves_the_files_of_a_large_class(tmp_path):
    root = by_class(tmp_path / "d", {"cats": 30, "dogs": 30, "tiny": 2})
    options = dict(val_fraction=0.2, test_fraction=0.1, split_seed=5)
    first = {e.path: e.split for e in scan_dataset(root, **options).entries}
    by_class(root, {"cats": 15, "dogs": 15, "tiny": 1}, seed=1)  # new names in every class
    grown = {e.path: e.split for e in scan_dataset(root, **options).entries}
    assert len(grown) == len(first) + 31
    assert all(grown[path] == split for path, split in first.items() if not path.startswith("tiny/"))


def test_classes_without_train_or_validation_images_are_named_in_one_line_each(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2, classes=("cats", "dogs"))
    make_image(root / "validation" / "birds" / "b.png", (0, 200, 0), 1)  # birds: no train image
    by_class(root / "train", {"eels": 1})  # eels: a single train image, no validation image
    scan = scan_dataset(root)
    lines = {n.code: n.message for n in scan.notes}
    assert lines["classes.no_train"] == "1 class without a train image: birds"
    assert lines["classes.no_validation"] == "1 class without a validation image: eels"


def test_one_image_classes_keep_it_for_training(tmp_path):
    root = by_class(tmp_path / "d", {"cats": 1, "dogs": 1})
    scan = scan_dataset(root, val_fraction=0.5)
    assert scan.split_counts() == {"train": 2}
    assert [n.count for n in scan.notes if n.code == "classes.no_validation"] == []  # no validation split at all


@pytest.mark.parametrize("options,match", [
    ({"val_fraction": -0.1}, r"val_fraction must be a number in \[0, 1\). Received: -0.1"),
    ({"val_fraction": 1.0}, r"val_fraction must be a number in \[0, 1\)"),
    ({"test_fraction": -0.2}, r"test_fraction must be a number in \[0, 1\)"),
    ({"val_fraction": 0.6, "test_fraction": 0.4}, r"val_fraction \+ test_fraction must stay below 1 .*Received: 0.6 \+ 0.4"),
    ({"val_fraction": True}, "val_fraction must be a number"),
    ({"split_seed": -1}, "split_seed must be a whole number"),
    ({"split_seed": 1.5}, "split_seed must be a whole number"),
])
def test_fractions_and_seed_are_checked_in_one_line(tmp_path, options, match):
    root = make_dataset(tmp_path / "d", per_class=2)
    with pytest.raises(ScanError, match=match) as error:
        scan_dataset(root, **options)
    assert "\n" not in str(error.value)
