"""Labelling slips and links are named, never taken in silence: labels alike but for case or space, one content
under two classes, blank rows of a prediction list, and symlinks by one rule for folders and files (followed
inside the data folder, outside it not followed, with a note or a reason)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extract.api import run_extraction
from extract.scan import scan_dataset
from tests.conftest import TINY, TINY_RUN, make_dataset, make_image


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", per_class=4, splits=())


def notes_of(scan, code: str) -> list[str]:
    return [n.message for n in scan.notes if n.code == code]


def test_labels_alike_but_for_case_or_space_get_one_note(data):
    table = ["file,label"] + [f"{p.relative_to(data).as_posix()},{p.parent.name}" for p in sorted(data.rglob("*.png"))]
    table[1] = table[1].replace(",cats", ",Cats")
    table[2] = table[2].replace(",cats", ",CATS")
    (data / "labels.csv").write_text("\n".join(table) + "\n")
    scan = scan_dataset(data, labels="labels.csv")
    assert scan.classes == ["CATS", "Cats", "cats", "dogs"]  # kept as given: the note says so
    assert notes_of(scan, "labels.alike") == [
        "1 group of labels differ only by case or surrounding space and are kept as separate classes: "
        "'CATS' / 'Cats' / 'cats' (rename to merge them)"]


def test_folders_alike_but_for_case_get_the_note_too(data):
    shutil.copytree(data / "cats", data / "Cats ")
    for path in (data / "Cats ").iterdir():  # other contents: only the names are alike
        make_image(path, (10, 10, 10), hash(path.name) % 1000)
    assert len(notes_of(scan_dataset(data), "labels.alike")) == 1
    assert notes_of(scan_dataset(make_dataset(data.parent / "plain", per_class=2, splits=())), "labels.alike") == []


def test_same_content_in_two_classes_is_counted_once(data):
    for i in range(2):
        shutil.copy(data / "cats" / f"cats.all.{i}.png", data / "dogs" / f"copy{i}.png")
    shutil.copy(data / "dogs" / "dogs.all.0.png", data / "dogs" / "same_class_copy.png")  # same class: no slip
    scan = scan_dataset(data)
    assert notes_of(scan, "labels.same_content") == [
        "2 image contents found under two or more classes (the same photo labelled twice), "
        "e.g. cats/cats.all.0.png = dogs/copy0.png (cats, dogs)"]


def test_symlinked_folders_follow_the_file_rule(data, tmp_path):
    outside = tmp_path / "outside"
    make_image(outside / "sub" / "o.png", (40, 80, 200), 7)
    make_image(data / "dogs" / "more" / "m.png", (40, 80, 200), 8)
    (data / "dogs" / "inside").symlink_to(data / "dogs" / "more", target_is_directory=True)
    (data / "cats" / "away").symlink_to(outside / "sub", target_is_directory=True)
    (data / "birds").symlink_to(outside, target_is_directory=True)  # a class folder leading outside
    (data / "dogs" / "file_away.png").symlink_to(outside / "sub" / "o.png")
    (data / "dogs" / "more" / "loop").symlink_to(data / "dogs", target_is_directory=True)
    scan = scan_dataset(data)
    found = {e.path: e.reason for e in scan.entries}
    assert found["dogs/inside/m.png"] == "" and found["dogs/more/m.png"] == ""  # inside: followed
    assert found["dogs/file_away.png"] == "a symlink to outside the data folder: not followed"
    assert "birds" not in scan.classes and not any("away/" in p or p.startswith("birds") for p in found)
    assert notes_of(scan, "files.links_out") == [
        "2 symlinked folders leading outside the data folder not followed: birds/, cats/away/"]
    assert sum(p.endswith("m.png") for p in found) == 2  # the loop walked once


def test_symlinked_folder_rows_of_a_table_follow_the_same_rule(data, tmp_path):
    make_image(tmp_path / "outside" / "o.png", (40, 80, 200), 7)
    (data / "linked").symlink_to(data / "dogs", target_is_directory=True)
    (data / "away").symlink_to(tmp_path / "outside", target_is_directory=True)
    rows = ["file,label", "linked/dogs.all.0.png,dogs", "away/o.png,dogs",
            *(f"{p.relative_to(data).as_posix()},{p.parent.name}" for p in sorted(data.glob("*/*.png"))
              if p.parent.name in ("cats", "dogs"))]
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    scan = scan_dataset(data, labels="labels.csv")
    assert {e.path for e in scan.usable()} >= {"linked/dogs.all.0.png"}
    assert "away/o.png" not in {e.path for e in scan.entries}
    assert notes_of(scan, "files.links_out") == ["1 symlinked folder leading outside the data folder not followed: away/"]


def test_blank_rows_of_a_prediction_list_are_counted(data, tmp_path):
    from heads.fit import fit_head
    from heads.predict import predict_images

    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    listing = data / "to_predict.csv"
    listing.write_text("path\ncats/cats.all.0.png\n\n,\ndogs/dogs.all.0.png\n   \n")
    notes: list[str] = []
    predictions = predict_images(head, [listing], on_note=notes.append, keep=False)
    assert [Path(p.path).name for p in predictions] == ["cats.all.0.png", "dogs.all.0.png"]
    assert "3 rows of to_predict.csv name no file (blank): not predicted." in notes

    incoming = tmp_path / "incoming"  # a folder given to predict: its symlinks follow the same rule
    make_image(incoming / "new.png", (200, 60, 40), 11)
    make_image(tmp_path / "elsewhere" / "far.png", (200, 60, 40), 12)
    (incoming / "away").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (incoming / "far.png").symlink_to(tmp_path / "elsewhere" / "far.png")
    notes.clear()
    predictions = {Path(p.path).name: p for p in predict_images(head, [incoming], on_note=notes.append, keep=False)}
    assert sorted(predictions) == ["far.png", "new.png"] and predictions["new.png"].label == "cats"
    assert predictions["far.png"].error == "a symlink to outside the data folder: not followed"
    assert f"1 symlinked folder in {incoming} leading outside it not followed: away/" in notes


def test_a_class_folder_whose_name_is_not_utf8_is_left_out_with_its_files(data):
    import os

    odd = os.fsencode(data) + b"/bi\xffrds"
    os.mkdir(odd)
    for i in range(2):
        with open(odd + b"/x%d.png" % i, "wb") as handle:
            handle.write((data / "cats" / f"cats.all.{i}.png").read_bytes())
    scan = scan_dataset(data)
    assert scan.classes == ["cats", "dogs"] and len(scan.usable()) == 8
    assert notes_of(scan, "files.bad_name") == [
        "2 files with a name that is not valid UTF-8 left out (rename them), e.g. bi\\xffrds/x0.png, "
        "bi\\xffrds/x1.png"]
