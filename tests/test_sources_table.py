"""Labels from a table: Kaggle-style ids, paths with a split column, and every mismatch counted."""
import pytest

from extract.scan import ScanError, scan_dataset
from tests.conftest import make_image

BREEDS = ("beagle", "collie", "pug")


def dog_breeds(root, per_breed=4, ext="jpg"):
    """<id>.jpg files and labels.csv (id,breed), as in Kaggle's Dog Breed Identification."""
    lines = ["id,breed"]
    for b, breed in enumerate(BREEDS):
        for i in range(per_breed):
            image_id = f"{b:02d}{i:06x}"
            make_image(root / f"{image_id}.{ext}", (60 * b, 90, 120), 10 * b + i)
            lines.append(f"{image_id},{breed}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def notes(scan, code):
    return [note for note in scan.notes if note.code == code]


def test_kaggle_ids_get_their_extension_detected(tmp_path):
    root = dog_breeds(tmp_path / "dog-breed")
    scan = scan_dataset(root, labels=root / "labels.csv")
    assert scan.layout == "table" and scan.classes == list(BREEDS)
    assert len(scan.usable()) == 12 and all(e.path.endswith(".jpg") for e in scan.entries)
    assert all(scan.classes[e.label] == BREEDS[int(e.path[:2])] for e in scan.entries)
    labels = scan.source["labels"]
    assert (labels["file_column"], labels["label_column"], labels["split_column"]) == ("id", "breed", None)
    assert labels["extensions_added"] == {".jpg": 12}
    assert scan.source["splits"]["from"] == "rule"
    assert not [n for n in scan.notes if n.code.startswith(("table.", "files."))]  # labels.csv is no stray file
    assert scan.skipped_non_image == 0


def test_the_table_is_also_found_inside_the_data_folder(tmp_path, monkeypatch):
    root = dog_breeds(tmp_path / "dog-breed")
    monkeypatch.chdir(tmp_path)
    assert len(scan_dataset(root, labels="labels.csv").usable()) == 12
    with pytest.raises(ScanError, match="Labels table not found"):
        scan_dataset(root, labels="nowhere.csv")


def test_a_given_extension_is_the_only_one_tried(tmp_path):
    root = dog_breeds(tmp_path / "d", ext="png")
    assert len(scan_dataset(root, labels="labels.csv", extension="png").usable()) == 12
    with pytest.raises(ScanError, match="No images found.*12 files in labels.csv not found on disk"):
        scan_dataset(root, labels="labels.csv", extension=".jpg")


def test_paths_with_a_split_column(tmp_path):
    root = tmp_path / "d"
    lines = ["Path;Class;Split"]  # spreadsheets in many locales write ; and capitalised names
    for i in range(6):
        for name, colour in (("cat", (200, 0, 0)), ("dog", (0, 0, 200))):
            split = ("train", "Valid", "test")[i % 3]
            make_image(root / "images" / f"{name}{i}.png", colour, i)
            lines.append(f"images/{name}{i}.png;{name};{split}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    scan = scan_dataset(root, labels=root / "meta.csv", val_fraction=0.5)
    assert scan.split_counts() == {"test": 4, "train": 4, "validation": 4}
    assert {e.split_source for e in scan.entries if e.split == "validation"} == {"Valid"}
    assert scan.source["splits"]["from"] == "table" and scan.source["splits"]["ruled"] == 0


def test_every_mismatch_gets_its_count_and_line_and_nothing_is_dropped_silently(tmp_path):
    root = dog_breeds(tmp_path / "d")
    with (root / "labels.csv").open("a") as table:
        table.write("gone1,pug\ngone2,pug\ngone3,beagle\n")  # 3 rows naming no file
        table.write("00000000,beagle\n00000001,beagle\n00000001,beagle\n")  # 3 duplicate rows, 2 files
        table.write("01000000,pug\n")  # conflicts with its row as collie
        table.write("../outside.jpg,pug\n,pug\n")
    make_image(root / "extra" / "new.jpg", (1, 1, 1), 1)  # 2 images the table does not name
    make_image(root / "unlisted.png", (1, 1, 1), 2)
    scan = scan_dataset(root, labels="labels.csv")
    counts = {note.code: note.count for note in scan.notes if note.code.startswith("table.")}
    assert counts == {"table.missing": 3, "table.duplicates": 3, "table.conflicts": 1, "table.unlisted": 2,
                      "table.outside": 1, "table.blank": 1}
    lines = "\n".join(scan.note_lines())
    assert "3 files in labels.csv not found on disk, e.g. gone1, gone2, gone3" in lines
    assert "1 file with conflicting labels (or splits) in labels.csv, not used, e.g. 01000000.jpg (collie, pug)" in lines
    assert "2 images in the data folder not in labels.csv" in lines
    paths = [e.path for e in scan.entries]
    assert "01000000.jpg" not in paths  # a conflicting file is not used
    assert paths.count("00000001.jpg") == 1  # a duplicated file is used once
    assert len(scan.entries) == 12 - 1


def test_unlisted_and_unlabelled_files_become_unlabelled_rows_when_asked(tmp_path):
    root = dog_breeds(tmp_path / "d")
    with (root / "labels.csv").open("a") as table:
        table.write("nolabel,\n")
    make_image(root / "nolabel.jpg", (1, 1, 1), 1)
    make_image(root / "test" / "a.jpg", (1, 1, 1), 2)
    assert notes(scan_dataset(root, labels="labels.csv"), "table.no_label")[0].count == 1
    scan = scan_dataset(root, labels="labels.csv", unlabelled=True)
    rows = {e.path: e for e in scan.entries if e.label == -1}
    assert set(rows) == {"nolabel.jpg", "test/a.jpg"}
    assert {e.split for e in rows.values()} == {"unlabelled"} and rows["test/a.jpg"].split_source == "test"
    assert "read as unlabelled rows" in notes(scan, "table.unlisted")[0].message


def test_a_listed_file_that_is_no_image_is_rejected_not_skipped(tmp_path):
    root = dog_breeds(tmp_path / "d")
    (root / "notes.txt").write_text("not a picture")
    (root / "stray.txt").write_text("not listed")
    with (root / "labels.csv").open("a") as table:
        table.write("notes.txt,pug\n")
    scan = scan_dataset(root, labels="labels.csv")
    assert "not an image" in {e.path: e.reason for e in scan.entries}["notes.txt"]
    assert scan.skipped_non_image == 1 and scan.skipped_examples == ["stray.txt"]


@pytest.mark.parametrize("header,match", [
    ("id,path,breed", r"several file columns \(id, path\): name one with file_column. Columns found: id, path, breed"),
    ("name,breed", r"no file column \(one of id, filename, file, path, image\).*Columns found: name, breed"),
    ("id,colour", r"no label column .*label_column. Columns found: id, colour"),
    ("id,label,class", r"several label columns \(label, class\)"),
])
def test_missing_or_ambiguous_columns_are_refused_in_one_line(tmp_path, header, match):
    root = dog_breeds(tmp_path / "d")
    (root / "labels.csv").write_text(header + "\n")
    with pytest.raises(ScanError, match=match) as error:
        scan_dataset(root, labels="labels.csv")
    assert "\n" not in str(error.value)


def test_columns_can_be_named(tmp_path):
    root = dog_breeds(tmp_path / "d")
    text = (root / "labels.csv").read_text().replace("id,breed", "image_name,dog,path_unused", 1)
    (root / "labels.tsv").write_text(text.replace(",", "\t"))
    scan = scan_dataset(root, labels="labels.tsv", file_column="IMAGE_NAME", label_column="dog")
    assert scan.classes == list(BREEDS) and len(scan.usable()) == 12
    with pytest.raises(ScanError, match="no column 'breed' \\(label_column\\)"):
        scan_dataset(root, labels="labels.tsv", file_column="image_name", label_column="breed")


def test_whole_number_labels_are_ordered_as_numbers(tmp_path):
    root = tmp_path / "d"
    lines = ["filename,label"]
    for i, label in enumerate(("10", "9", "2", "10", "9", "2")):
        make_image(root / f"{i}.png", (20 * i, 0, 0), i)
        lines.append(f"{i}.png,{label}")
    (root / "labels.csv").write_text("\n".join(lines))
    assert scan_dataset(root, labels="labels.csv").classes == ["2", "9", "10"]


def test_parquet_needs_pandas_which_is_never_added(tmp_path):
    try:
        import pandas  # noqa: F401
    except ImportError:
        root = dog_breeds(tmp_path / "d")
        (root / "labels.parquet").write_bytes(b"PAR1")
        with pytest.raises(ScanError, match="needs pandas with pyarrow.*save the table as CSV"):
            scan_dataset(root, labels="labels.parquet")
    else:
        pytest.skip("pandas is installed: .parquet tables are read")


def test_table_options_without_a_table_are_refused(tmp_path):
    root = dog_breeds(tmp_path / "d")
    with pytest.raises(ScanError, match="file_column only apply to a labels table"):
        scan_dataset(root, file_column="id")
    with pytest.raises(ScanError, match="labels goes with layout auto or table"):
        scan_dataset(root, labels="labels.csv", layout="classes")
    with pytest.raises(ScanError, match="layout table needs labels"):
        scan_dataset(root, layout="table")


def test_ids_of_a_subfolder_are_pointed_to_when_nothing_matches(tmp_path):
    data = tmp_path / "dog-breed"
    dog_breeds(data / "train")
    (data / "train" / "labels.csv").rename(data / "labels.csv")  # Kaggle: labels.csv beside train/
    with pytest.raises(ScanError, match=r"12 files in labels.csv not found on disk \(0[0-9a-f]+ is in train/: "
                                        r"give that folder as the data folder\)"):
        scan_dataset(data, labels=data / "labels.csv")
    assert len(scan_dataset(data / "train", labels=data / "labels.csv").usable()) == 12
