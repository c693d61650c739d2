from pathlib import Path

import pytest

from extract.scan import ScanError, scan_dataset, sniff, split_by_name
from tests.conftest import make_dataset, make_image


def test_split_layout_classes_sorted_and_labelled(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=3, classes=("dogs", "cats", "birds"))
    scan = scan_dataset(root)
    assert scan.layout == "splits"
    assert scan.classes == ["birds", "cats", "dogs"]
    assert scan.split_counts() == {"train": 9, "validation": 9}
    for entry in scan.entries:
        assert entry.path.split("/")[1] == scan.classes[entry.label]
        assert entry.path.split("/")[0] == entry.split


def test_class_layout_split_by_name_is_stable_when_data_grows(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=30, splits=())
    first = {e.path: e.split for e in scan_dataset(root, val_fraction=0.3).entries}
    assert scan_dataset(root, val_fraction=0.3).layout == "classes"
    assert 0 < sum(s == "validation" for s in first.values()) < len(first)
    make_dataset(tmp_path / "d", per_class=40, splits=(), seed=7)  # more files, new names
    grown = {e.path: e.split for e in scan_dataset(root, val_fraction=0.3).entries}
    assert all(grown[path] == split for path, split in first.items())
    assert len(grown) > len(first)


def test_split_follows_the_file_name_not_its_class():
    assert split_by_name("cat.7.jpg", 0.5) == split_by_name("cat.7.jpg", 0.5)
    assert split_by_name("a_nohash_1.jpg", 0.5) == split_by_name("a_nohash_2.jpg", 0.5)
    share = sum(split_by_name(f"f{i}.jpg", 0.25) == "validation" for i in range(4000)) / 4000
    assert 0.22 < share < 0.28


@pytest.mark.parametrize("head,kind", [
    (b"\xff\xd8\xff\xe0rest", "jpeg"), (b"\x89PNG\r\n\x1a\nxxxx", "png"), (b"GIF89a...", "gif"),
    (b"BM\x00\x00", "bmp"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"), (b"<html>", None), (b"", None),
])
def test_sniff_by_content(head, kind):
    assert sniff(head) == kind


def test_content_not_extension_decides(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    cats = root / "train" / "cats"
    make_image(cats / "no_extension", (1, 2, 3), 99, fmt="PNG")  # a PNG with no extension: used
    (cats / "fake.jpg").write_text("<html>not a picture</html>")  # meant as an image: rejected
    (cats / "empty.jpg").write_bytes(b"")
    (cats / "notes.txt").write_text("labels were checked by hand")  # not meant as an image: skipped
    (cats / ".DS_Store").write_bytes(b"\x00\x01")
    (cats / ".hidden_dir").mkdir()
    scan = scan_dataset(root)
    by_path = {e.path: e for e in scan.entries}
    assert by_path["train/cats/no_extension"].reason == ""
    assert "not an image" in by_path["train/cats/fake.jpg"].reason
    assert "empty" in by_path["train/cats/empty.jpg"].reason
    assert "train/cats/notes.txt" not in by_path
    assert scan.skipped_non_image == 1 and scan.skipped_hidden == 2


def test_empty_folder_and_single_class_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError, match="No images found"):
        scan_dataset(tmp_path / "empty")
    one = make_dataset(tmp_path / "one", per_class=2, classes=("cats",))
    with pytest.raises(ScanError, match="At least 2 classes"):
        scan_dataset(one)
    with pytest.raises(ScanError, match="not found"):
        scan_dataset(tmp_path / "missing")


def test_symlink_loop_does_not_hang(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    (root / "train" / "cats" / "loop").symlink_to(root / "train" / "cats", target_is_directory=True)
    (root / "train" / "cats" / "self.jpg").symlink_to(root / "train" / "cats" / "self.jpg")
    scan = scan_dataset(root)
    reasons = {e.path: e.reason for e in scan.entries}
    assert reasons["train/cats/self.jpg"].startswith("unreadable")
    assert scan.split_counts() == {"train": 4, "validation": 4}


def test_same_content_same_hash_whatever_the_name(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    original = root / "train" / "cats" / "cats.train.0.png"
    (root / "train" / "dogs" / "copy.png").write_bytes(Path(original).read_bytes())
    hashes = {e.path: e.hash for e in scan_dataset(root).entries}
    assert hashes["train/cats/cats.train.0.png"] == hashes["train/dogs/copy.png"]
