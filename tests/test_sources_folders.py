"""Folder layouts as users have them: split folders by any name, loose folders, unlabelled data."""
import pytest

from extract.scan import ScanError, scan_dataset
from tests.conftest import CLASS_COLOURS, make_dataset, make_image


def kaggle_dogs_vs_cats(root, per_class=4, unlabelled=3):
    """train/cat.0.jpg, train/dog.0.jpg, ... beside an unlabelled test1/1.jpg, ..."""
    for i in range(per_class):
        make_image(root / "train" / f"cat.{i}.jpg", CLASS_COLOURS["cats"], i)
        make_image(root / "train" / f"dog.{i}.jpg", CLASS_COLOURS["dogs"], 100 + i)
    for i in range(unlabelled):
        make_image(root / "test1" / f"{i + 1}.jpg", (90, 90, 90), 200 + i)
    return root


def notes(scan, code):
    return [note for note in scan.notes if note.code == code]


def test_split_folder_names_are_normalised_and_kept_as_found(tmp_path):
    root = tmp_path / "d"
    for folder in ("Training", "val", "TEST"):
        make_dataset(root, per_class=2, splits=(folder,))
    scan = scan_dataset(root)
    assert scan.layout == "splits"
    assert scan.split_counts() == {"test": 4, "train": 4, "validation": 4}
    assert {(e.split_source, e.split) for e in scan.entries} == {
        ("Training", "train"), ("val", "validation"), ("TEST", "test")}
    assert scan.source["splits"]["names"] == {"TEST": "test", "Training": "train", "val": "validation"}
    assert scan.source["splits"]["from"] == "folders" and scan.source["splits"]["ruled"] == 0


@pytest.mark.parametrize("name", ["valid", "dev", "validation", "Val"])
def test_every_validation_alias_reads_as_validation(tmp_path, name):
    root = make_dataset(tmp_path / "d", per_class=2, splits=("train", name))
    assert scan_dataset(root).split_counts() == {"train": 4, "validation": 4}


def test_two_folders_of_one_split_are_read_together_and_said(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2, splits=("train", "val", "validation"))
    scan = scan_dataset(root)
    assert scan.split_counts() == {"train": 4, "validation": 8}
    [note] = notes(scan, "folders.merged_splits")
    assert note.count == 2 and "val/" in note.message and "validation/" in note.message


def test_kaggle_dogs_vs_cats_is_refused_without_labels_never_made_train_vs_test1(tmp_path):
    root = kaggle_dogs_vs_cats(tmp_path / "dogs-vs-cats")
    with pytest.raises(ScanError) as error:
        scan_dataset(root)
    message = str(error.value)
    assert "\n" not in message
    assert "8 in train/" in message and "3 in test1/" in message and "label_pattern" in message


def test_kaggle_dogs_vs_cats_read_unlabelled_for_prediction(tmp_path):
    root = kaggle_dogs_vs_cats(tmp_path / "dogs-vs-cats")
    scan = scan_dataset(root, unlabelled=True)
    assert scan.layout == "unlabelled" and scan.classes == []
    assert scan.split_counts() == {"unlabelled": 11}
    assert all(e.label == -1 for e in scan.entries)
    assert {e.split_source for e in scan.entries} == {"train", "test1"}


def test_a_loose_folder_beside_split_folders_is_noted_not_made_a_class(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=3)
    for i in range(5):
        make_image(root / "test1" / f"{i}.png", (1, 2, 3), i)
    (root / "test1" / "readme.txt").write_text("images to score")
    scan = scan_dataset(root)
    assert scan.layout == "splits" and scan.classes == ["cats", "dogs"]
    assert scan.split_counts() == {"train": 6, "validation": 6}
    [note] = notes(scan, "folders.loose")
    assert note.count == 5 and note.message.startswith("5 images in test1/") and "not used" in note.message
    assert scan.skipped_non_image == 1  # the readme, counted as before

    scan = scan_dataset(root, unlabelled=True)
    assert scan.classes == ["cats", "dogs"]
    assert scan.split_counts() == {"train": 6, "unlabelled": 5, "validation": 6}
    rows = [e for e in scan.entries if e.split == "unlabelled"]
    assert {(e.label, e.split_source) for e in rows} == {(-1, "test1")}
    assert notes(scan, "folders.unlabelled")[0].count == 5


@pytest.mark.parametrize("folder", ["test", "test1", "Unlabelled"])
def test_a_loose_split_like_folder_beside_class_folders_is_not_a_class(tmp_path, folder):
    root = make_dataset(tmp_path / "d", per_class=5, splits=())
    for i in range(2):
        make_image(root / folder / f"{i}.png", (1, 2, 3), i)
    scan = scan_dataset(root)
    assert scan.layout == "classes" and scan.classes == ["cats", "dogs"]
    assert notes(scan, "folders.loose")[0].count == 2
    assert sum(scan.split_counts().values()) == 10


def test_loose_images_at_the_top_or_beside_class_folders_are_noted(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=3)
    make_image(root / "stray.png", (1, 2, 3), 1)
    make_image(root / "train" / "unsorted.png", (1, 2, 3), 2)
    scan = scan_dataset(root)
    found = {note.message.split(" outside")[0]: note.count for note in notes(scan, "folders.loose")}
    assert found == {"1 image in the data folder": 1, "1 image in train/": 1}
    assert "stray.png" not in {e.path for e in scan.entries}


def test_a_lone_train_folder_gets_a_validation_split_by_the_rule(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=20, splits=("train",))
    scan = scan_dataset(root, val_fraction=0.25)
    counts = scan.split_counts()
    assert set(counts) == {"train", "validation"} and 0 < counts["validation"] < 20
    assert {e.split_source for e in scan.entries} == {"train"}  # as found; the rule chose the split
    assert scan.source["splits"]["from"] == "folders+rule"
    assert scan.source["splits"]["carved_from_train"] == 40


def test_a_test_folder_without_validation_keeps_its_test_and_carves_validation(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=20, splits=("train", "test"))
    scan = scan_dataset(root, test_fraction=0.2)
    counts = scan.split_counts()
    assert counts["test"] == 40 and counts["validation"] > 0 and counts["train"] + counts["validation"] == 40
    assert scan.source["splits"]["rule_test_fraction"] == 0.0  # the test folder takes the test share's place
    assert all(e.split_source == "test" for e in scan.entries if e.split == "test")


def test_given_train_and_validation_folders_are_never_reshuffled(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=4)
    scan = scan_dataset(root, val_fraction=0.5)
    assert all(e.split == e.split_source for e in scan.entries)
    assert scan.source["splits"]["ruled"] == 0


def test_a_test_share_beside_split_folders_comes_out_of_train_only(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=20)
    scan = scan_dataset(root, test_fraction=0.3)
    validation = {e.path for e in scan.entries if e.split == "validation"}
    assert validation == {e.path for e in scan.entries if e.split_source == "validation"}
    test = [e for e in scan.entries if e.split == "test"]
    assert test and all(e.split_source == "train" for e in test)
    assert scan.source["splits"]["rule_val_fraction"] == 0.0


def test_explicit_unlabelled_layout_reads_every_file(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    scan = scan_dataset(root, layout="unlabelled")
    assert scan.classes == [] and scan.split_counts() == {"unlabelled": 8}
    assert {e.split_source for e in scan.entries} == {"train", "validation"}


def test_the_dataset_name_defaults_to_the_folder_name(tmp_path):
    root = make_dataset(tmp_path / "flowers", per_class=2)
    assert scan_dataset(root).name == "flowers"
    assert scan_dataset(root, name="petals").source["name"] == "petals"
