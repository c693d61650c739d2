import json
from pathlib import Path

import pytest

from extract.scan import DataOptions, ScanError, scan_dataset, sniff, split_by_name
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


def test_options_object_and_keywords_give_the_same_scan(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=8, splits=())
    by_keywords = scan_dataset(root, val_fraction=0.3, layout="auto")
    by_options = scan_dataset(root, DataOptions(val_fraction=0.3))
    assert by_keywords.entries == by_options.entries
    assert scan_dataset(root, DataOptions(val_fraction=0.9), val_fraction=0.3).entries == by_keywords.entries


def test_unknown_options_and_layouts_are_refused_in_one_line(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2)
    with pytest.raises(ScanError, match="Unknown data option val_fracton. Allowed: .*val_fraction"):
        scan_dataset(root, val_fracton=0.3)
    with pytest.raises(ScanError, match="layout must be one of auto, splits, classes, table, pattern, unlabelled"):
        scan_dataset(root, layout="folders")
    with pytest.raises(ScanError, match="options must be a DataOptions. Received: float"):
        scan_dataset(root, 0.3)
    with pytest.raises(ScanError, match="dataset name"):
        scan_dataset(root, name="a/b")


def test_source_and_notes_are_json_for_the_store(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=2, splits=("train", "val"))
    make_image(root / "test1" / "0.png", (1, 2, 3), 0)
    scan = scan_dataset(root)
    record = json.loads(json.dumps({"source": scan.source, "notes": [n.to_dict() for n in scan.notes]}))
    assert record["source"]["layout"] == "splits" and record["source"]["labels"] == {"from": "folders"}
    assert record["source"]["splits"]["names"] == {"train": "train", "val": "validation"}
    assert record["source"]["loose_folders"] == {"test1": 1}
    assert [n["code"] for n in record["notes"]] == ["folders.loose"] and record["notes"][0]["count"] == 1
    assert scan.note_lines() == [str(n) for n in scan.notes]
