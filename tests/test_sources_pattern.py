"""Labels from file names: a regular expression with one group, as fastai's from_name_re."""
import pytest

from extract.scan import ScanError, scan_dataset
from tests.conftest import CLASS_COLOURS, make_image

KAGGLE = r"^(cat|dog)\."


def flat(root, per_class=10):
    for i in range(per_class):
        make_image(root / f"cat.{i}.jpg", CLASS_COLOURS["cats"], i)
        make_image(root / f"dog.{i}.jpg", CLASS_COLOURS["dogs"], 100 + i)
    return root


def test_a_flat_folder_labelled_by_file_name_split_by_the_rule(tmp_path):
    root = flat(tmp_path / "train")
    make_image(root / "bird.0.jpg", (0, 200, 0), 5)  # an image whose name does not match
    (root / "README.txt").write_text("from Kaggle")
    scan = scan_dataset(root, label_pattern=KAGGLE, val_fraction=0.3)
    assert scan.layout == "pattern" and scan.classes == ["cat", "dog"]
    assert all(e.path.startswith(scan.classes[e.label] + ".") for e in scan.entries)
    assert set(scan.split_counts()) == {"train", "validation"} and len(scan.usable()) == 20
    assert all(e.split_source == "" for e in scan.entries)
    [note] = [n for n in scan.notes if n.code == "pattern.unmatched"]
    assert note.count == 1 and note.message.startswith("1 image whose name does not match label_pattern")
    assert scan.skipped_non_image == 1  # the README is no unmatched image
    assert scan.source["labels"] == {"from": "pattern", "pattern": KAGGLE}


def test_split_folders_with_labels_in_the_file_names(tmp_path):
    root = tmp_path / "d"
    flat(root / "train", 4)
    flat(root / "val", 2)
    scan = scan_dataset(root, label_pattern=KAGGLE)
    assert scan.split_counts() == {"train": 8, "validation": 4}
    assert {e.split_source for e in scan.entries} == {"train", "val"}


def test_kaggle_layout_labels_train_and_notes_the_unlabelled_test1(tmp_path):
    root = tmp_path / "dogs-vs-cats"
    flat(root / "train", 10)
    for i in range(3):
        make_image(root / "test1" / f"{i + 1}.jpg", (90, 90, 90), i)
    scan = scan_dataset(root, label_pattern=KAGGLE)
    assert scan.classes == ["cat", "dog"]
    counts = scan.split_counts()
    assert set(counts) == {"train", "validation"} and sum(counts.values()) == 20  # a lone train/ is split
    [note] = [n for n in scan.notes if n.code == "folders.loose"]
    assert note.count == 3 and "test1/" in note.message and "no file name matches label_pattern" in note.message

    scan = scan_dataset(root, label_pattern=KAGGLE, unlabelled=True)
    assert scan.split_counts()["unlabelled"] == 3
    assert {(e.label, e.split_source) for e in scan.entries if e.split == "unlabelled"} == {(-1, "test1")}


@pytest.mark.parametrize("pattern,match", [
    (r"^(cat)|(dog)\.", "needs exactly one group.*it has 2"),
    (r"^cat\.", "needs exactly one group.*it has 0"),
    (r"^(cat", "not a valid regular expression"),
])
def test_a_pattern_without_exactly_one_group_is_refused(tmp_path, pattern, match):
    root = flat(tmp_path / "d", 2)
    with pytest.raises(ScanError, match=match) as error:
        scan_dataset(root, label_pattern=pattern)
    assert "\n" not in str(error.value)


def test_a_pattern_and_a_table_are_not_both_taken(tmp_path):
    root = flat(tmp_path / "d", 2)
    with pytest.raises(ScanError, match="not both"):
        scan_dataset(root, label_pattern=KAGGLE, labels="labels.csv")
    with pytest.raises(ScanError, match="layout pattern needs label_pattern"):
        scan_dataset(root, layout="pattern")


def test_an_empty_group_is_no_label_and_hidden_files_are_never_read(tmp_path):
    root = flat(tmp_path / "d", 3)
    make_image(root / "_0.jpg", (1, 1, 1), 1)  # the group matches the empty string
    make_image(root / ".cat.9.jpg", (1, 1, 1), 2)
    scan = scan_dataset(root, label_pattern=r"^([a-z]*)[._]")
    assert scan.classes == ["cat", "dog"] and len(scan.entries) == 6
    assert [n.count for n in scan.notes if n.code == "pattern.unmatched"] == [1]
    assert scan.skipped_hidden == 1
