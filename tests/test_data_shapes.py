"""Data as users have it, end to end through the CLIs: each shape extracted as a named dataset of ONE store
(`extract run --dataset ...`), its classes, splits and summary counts checked, then `heads fit` + `heads eval`
on it. The store is built once for the module (tiny MobileNet, weights with batch-norm statistics set)."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.cli import app as extract_app
from extract.scan import ScanError, scan_dataset
from heads.cli import app as heads_app
from store import FeatureStore
from tests.test_heads_support import TINY, image, new_images, tiny_weights

runner = CliRunner(env={"COLUMNS": "240"})  # rich's tables on one line each
PALETTE = {"cats": (210, 50, 40), "dogs": (30, 70, 210), "birds": (50, 200, 60), "fish": (230, 210, 40)}


# -- the shapes ---------------------------------------------------------------------------------
def kaggle_breeds(root: Path) -> Path:
    """train/<id>.jpg + labels.csv (id,breed), as Kaggle's Dog Breed Identification; plus a row naming no
    file, a duplicate row, a file listed twice with two labels, and an image the table does not list."""
    lines, seed = ["id,breed"], 1000
    for b, breed in enumerate(("birds", "cats", "dogs")):
        for i in range(10):
            seed += 1
            image_id = f"{b}{i:05x}e7"
            image(root / "train" / f"{image_id}.jpg", PALETTE[breed], seed)
            lines.append(f"{image_id},{breed}")
    lines += ["ffff00e7,birds", lines[1], f"{lines[2].split(',')[0]},dogs"]
    image(root / "train" / "not_in_table.jpg", PALETTE["cats"], 1999)
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


SUBSETS = ["train"] * 8 + ["valid"] * 2 + ["test"] * 2


def paths_with_splits(root: Path) -> Path:
    """photos/<anything>/*.png + meta.tsv (path, class, subset with train/valid/test)."""
    lines, seed = ["path\tclass\tsubset"], 2000
    for name in ("cats", "dogs"):
        for i in range(12):
            seed += 1
            rel = f"batch{i % 2}/{name[0]}{i}.png"
            image(root / rel, PALETTE[name], seed)
            lines.append(f"{rel}\t{name}\t{SUBSETS[i]}")
    (root / "meta.tsv").write_text("\n".join(lines) + "\n")
    return root


def named_files(root: Path) -> Path:
    """A flat folder whose file names hold the class (img_cats_003.png), and one image whose name does not."""
    seed = 3000
    for name in ("cats", "dogs"):
        for i in range(12):
            seed += 1
            image(root / f"img_{name}_{i:03d}.png", PALETTE[name], seed)
    image(root / "holiday.png", PALETTE["birds"], 3999)
    return root


def kaggle_dogs_vs_cats(root: Path) -> Path:
    """train/cat.N.jpg, train/dog.N.jpg and an unlabelled test1/N.jpg: the Kaggle download."""
    seed = 4000
    for name, colour in (("cat", PALETTE["cats"]), ("dog", PALETTE["dogs"])):
        for i in range(12):
            seed += 1
            image(root / "train" / f"{name}.{i}.jpg", colour, seed)
    for i in range(5):
        image(root / "test1" / f"{i + 1}.jpg", PALETTE["cats" if i % 2 else "dogs"], 4900 + i)
    return root


def train_valid(root: Path) -> Path:
    seed = 5000
    for split, count in (("train", 10), ("valid", 4)):
        for name in ("cats", "dogs"):
            for i in range(count):
                seed += 1
                image(root / split / name / f"{i}.png", PALETTE[name], seed)
    return root


def small_classes(root: Path) -> Path:
    """Folder per class, two of them tiny: birds has 2 images, fish 1."""
    seed = 6000
    for name, count in (("cats", 12), ("dogs", 12), ("birds", 2), ("fish", 1)):
        for i in range(count):
            seed += 1
            image(root / name / f"{name}{i}.png", PALETTE[name], seed)
    return root


def unlabelled_folder(root: Path) -> Path:
    for i in range(6):
        image(root / f"photo{i}.png", PALETTE["cats" if i % 2 else "dogs"], 7000 + i)
    return root


SHAPES = {  # dataset name -> (builder, data folder under the shape's root, options of `extract run`)
    "breeds": (kaggle_breeds, "train", ["--labels", "{root}/labels.csv", "--test-fraction", "0.2"]),
    "paths": (paths_with_splits, ".", ["--labels", "{root}/meta.tsv"]),
    "named": (named_files, ".", ["--label-pattern", "_(cats|dogs)_"]),
    "dvc": (kaggle_dogs_vs_cats, ".", ["--label-pattern", r"^(cat|dog)\.", "--unlabelled"]),
    "trainval": (train_valid, ".", []),
    "small": (small_classes, ".", []),
    "incoming": (unlabelled_folder, ".", ["--unlabelled"]),
}


def extract(*args: str):
    return runner.invoke(extract_app, ["run", *args])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("shapes")
    weights = tiny_weights(base / "tiny.weights.h5")
    # --preprocess: the tiny file has no manifest (a run would note the preprocessing it assumes)
    common = ["--backbone", TINY.backbone, "--weights", str(weights), "--size", str(TINY.size),
              "--alpha", str(TINY.alpha), "--layer", TINY.layer, "--preprocess", "tf", "--batch-size", "16"]
    store = base / "store"
    outputs, roots = {}, {}
    for name, (build, folder, options) in SHAPES.items():
        root = build(base / name)
        roots[name] = root
        result = extract("--data", str(root / folder), "--store", str(store), "--dataset", name, *common,
                         *(o.format(root=root) for o in options))
        assert result.exit_code == 0, result.output
        outputs[name] = result.output
    return {"store": store, "outputs": outputs, "roots": roots, "common": common, "base": base}


def summary_row(output: str, key: str) -> str:
    line = next(line for line in output.splitlines() if line.strip("│ ").startswith(key))
    return line.strip("│ ")[len(key):].strip("│ ")


def notes(output: str) -> list[str]:
    return [line[len("note: "):] for line in output.splitlines() if line.startswith("note: ")]


def fit_and_eval(store: Path, dataset: str, split: str) -> dict:
    """`heads fit` on the dataset, found by `heads list --dataset`, scored by `heads eval` on `split`: every
    labelled row of that split of the index is scored, in its own class (supports per class name)."""
    fitted = runner.invoke(heads_app, ["fit", "--store", str(store), "--dataset", dataset, "--kind", "logreg"])
    assert fitted.exit_code == 0, fitted.output
    listed = runner.invoke(heads_app, ["list", "--store", str(store), "--dataset", dataset, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert rows and {r["dataset"] for r in rows} == {dataset}
    evaluated = runner.invoke(heads_app, ["eval", "--head", rows[0]["head_id"], "--store", str(store), "--split", split,
                                          "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout)
    index = FeatureStore(store).dataset(dataset)
    expected = {name: sum(index.classes[label] == name and s == split for label, s in zip(index.labels, index.splits))
                for name in index.classes}
    assert {name: row["support"] for name, row in result["per_class"].items()} == expected
    assert result["dataset"] == dataset and result["n"] == sum(expected.values()) > 0
    return result


# -- each shape ---------------------------------------------------------------------------------
def test_kaggle_ids_with_a_labels_csv(world):
    output, store = world["outputs"]["breeds"], world["store"]
    index = FeatureStore(store).dataset("breeds")
    counts = {s: index.splits.count(s) for s in ("test", "train", "validation")}
    assert counts["test"] >= 3 and counts["validation"] >= 3  # a test share, each class with an image in it
    assert summary_row(output, "images found") == "29 (test {test}, train {train}, validation {validation})".format(
        **counts)
    lines = notes(output)
    for expected in ("1 file in labels.csv not found on disk, e.g. ffff00e7",
                     "1 image in the data folder not in labels.csv, not used",
                     "1 duplicate row in labels.csv (same file, same label), counted once",
                     "1 file with conflicting labels (or splits) in labels.csv, not used"):
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    assert index.classes == ["birds", "cats", "dogs"]
    assert [n["code"] for n in index.stats["notes"]] == ["table.missing", "table.unlisted", "table.duplicates",
                                                        "table.conflicts"]
    assert index.source["options"]["labels"] == str((world["roots"]["breeds"] / "labels.csv").resolve())
    assert fit_and_eval(store, "breeds", "test")["n"] == counts["test"]


def test_paths_with_a_split_column(world):
    output, store = world["outputs"]["paths"], world["store"]
    assert summary_row(output, "images found") == "24 (test 4, train 16, validation 4)"
    assert notes(output) == []
    index = FeatureStore(store).dataset("paths")
    assert {(s, src) for s, src in zip(index.splits, index.split_sources)} == {
        ("train", "train"), ("validation", "valid"), ("test", "test")}
    assert all(p.startswith("batch") for p in index.paths)  # meta.tsv itself is no row
    result = fit_and_eval(store, "paths", "validation")
    assert result["n"] == 4


def test_labels_from_file_names(world):
    output, store = world["outputs"]["named"], world["store"]
    assert notes(output) == ["1 image whose name does not match label_pattern, not used, e.g. holiday.png"]
    index = FeatureStore(store).dataset("named")
    assert index.classes == ["cats", "dogs"] and "holiday.png" not in index.paths
    counts = {s: index.splits.count(s) for s in set(index.splits)}
    assert summary_row(output, "images found") == f"24 (train {counts['train']}, validation {counts['validation']})"
    assert counts["validation"] >= 2  # the rule, with at least one validation image per class
    result = fit_and_eval(store, "named", "validation")
    assert result["n"] == counts["validation"]


def test_kaggle_dogs_vs_cats_with_its_unlabelled_test1(world):
    output, store = world["outputs"]["dvc"], world["store"]
    assert "5 loose images in test1/ read as unlabelled rows" in notes(output)
    index = FeatureStore(store).dataset("dvc")
    assert index.classes == ["cat", "dog"]
    unlabelled = [p for p, s in zip(index.paths, index.splits) if s == "unlabelled"]
    assert sorted(unlabelled) == [f"test1/{i}.jpg" for i in range(1, 6)]
    assert all(label == -1 for label, s in zip(index.labels, index.splits) if s == "unlabelled")
    carved = index.splits.count("validation")
    assert summary_row(output, "images found") == f"29 (train {24 - carved}, unlabelled 5, validation {carved})"
    result = fit_and_eval(store, "dvc", "validation")  # unlabelled rows are neither fitted nor scored
    assert result["n"] == carved


def test_the_kaggle_layout_without_labels(world, tmp_path):
    root = world["roots"]["dvc"]
    with pytest.raises(ScanError, match="label_pattern=REGEX"):
        scan_dataset(root)
    scan = scan_dataset(root, label_pattern=r"^(cat|dog)\.")  # test1/ named, left out
    assert [(n.code, n.count) for n in scan.notes] == [("folders.loose", 5)]
    result = extract("--data", str(root), "--store", str(tmp_path / "s"), *world["common"])
    assert result.exit_code == 3 and not (tmp_path / "s").exists()
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"error: No labelled images in the data folder: images without a label (5 in test1/, 24 in train/). Give "
        f"labels (labels=TABLE or label_pattern=REGEX) or read them unlabelled (unlabelled=True). Received: {root}"]


def test_train_and_valid_folders(world):
    output, store = world["outputs"]["trainval"], world["store"]
    assert summary_row(output, "images found") == "28 (train 20, validation 8)"
    index = FeatureStore(store).dataset("trainval")
    assert set(zip(index.splits, index.split_sources)) == {("train", "train"), ("validation", "valid")}
    result = fit_and_eval(store, "trainval", "validation")
    assert result["n"] == 8


@pytest.mark.parametrize("folder", ["val", "valid", "dev"])
def test_validation_folders_by_any_usual_name(tmp_path, folder):
    root = train_valid(tmp_path / "d")
    (root / "valid").rename(root / folder)
    assert scan_dataset(root).split_counts() == {"train": 20, "validation": 8}


def test_classes_of_one_and_two_images(world):
    output, store = world["outputs"]["small"], world["store"]
    lines = notes(output)
    assert any(line.startswith("1 file moved off the split rule so that small classes keep a train (and validation, "
                               "test) image: birds") for line in lines), lines
    assert "1 class without a validation image: fish" in lines
    index = FeatureStore(store).dataset("small")
    per_class = {(index.classes[label], split) for label, split in zip(index.labels, index.splits)}
    assert {("birds", "train"), ("birds", "validation"), ("fish", "train")} <= per_class
    assert ("fish", "validation") not in per_class
    result = fit_and_eval(store, "small", "validation")
    assert result["n"] == index.splits.count("validation")


# -- several datasets in one store --------------------------------------------------------------
def test_every_dataset_is_kept_side_by_side(world):
    store = FeatureStore(world["store"])
    assert store.datasets() == sorted(SHAPES)
    listed = runner.invoke(extract_app, ["ls", "--store", str(world["store"])])
    assert listed.exit_code == 0
    assert "dataset incoming" in listed.output and "unlabelled 6" in listed.output
    unknown = runner.invoke(heads_app, ["list", "--store", str(world["store"]), "--dataset", "nope"])
    assert unknown.exit_code == 3 and "No dataset 'nope' in the store. Known: breeds, dvc" in unknown.stderr


def test_another_backbone_reads_a_dataset_again_as_recorded(world, tmp_path):
    store = shutil.copytree(world["store"], tmp_path / "store")
    before = FeatureStore(store).dataset("breeds")
    result = extract("--store", str(store), "--dataset", "breeds", *world["common"], "--pool", "avg")
    assert result.exit_code == 0, result.output
    assert summary_row(result.output, "images found") == summary_row(world["outputs"]["breeds"], "images found")
    assert "new index version" not in result.output
    after = FeatureStore(store).dataset("breeds")
    assert after.created == before.created and after.digest() == before.digest()  # the same index, not rewritten
    views = [FeatureStore(store).view(c.config_id, "breeds") for c in FeatureStore(store).configs()]
    assert len(views) == 2 and views[0].split_counts() == views[1].split_counts()
    assert sum(views[0].split_counts().values()) == 29

    changed = extract("--data", str(world["roots"]["named"]), "--store", str(store), "--dataset", "named",
                      *world["common"], "--val-fraction", "0.4")
    assert changed.exit_code == 0, changed.output
    assert ("Dataset 'named': a new index version (val_fraction 0.2 -> 0.4); heads fitted on the earlier one say "
            "what changed for them (heads eval).") in notes(changed.output)
    again = extract("--data", str(world["roots"]["named"]), "--store", str(store), "--dataset", "named",
                    *world["common"])
    assert again.exit_code == 0 and "new index version" not in again.output  # 0.4 is the recorded value now
    assert FeatureStore(store).dataset("named").source["options"]["val_fraction"] == 0.4


@pytest.mark.parametrize("args,message", [
    (["--labels", "x.csv", "--label-pattern", "a(b)"], "Labels come from a table (labels) or from file names"),
    (["--file-column", "id"], "file_column only apply to a labels table. Received: labels=None"),
    (["--val-fraction", "1.5"], "val_fraction must be a number in [0, 1). Received: 1.5"),
    (["--layout", "table"], "layout table needs labels. Received: labels=None"),
    (["--label-pattern", "(a)(b)"], "label_pattern needs exactly one group"),
])
def test_data_options_refused_in_one_line(world, tmp_path, args, message):
    result = extract("--data", str(world["roots"]["trainval"]), "--store", str(tmp_path / "s"), *world["common"],
                     *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 3 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "s").exists()


def test_a_dataset_to_read_again_must_exist(world, tmp_path):
    nothing = extract("--store", str(world["store"]), *world["common"])
    assert nothing.exit_code == 3
    assert "Give the data folder (--data) or the name of a dataset of the store to read again (--dataset). Known " \
           "datasets: breeds, dvc, incoming, named, paths, small, trainval" in nothing.stderr
    unknown = extract("--store", str(world["store"]), "--dataset", "pets", *world["common"])
    assert unknown.exit_code == 3 and "No dataset 'pets' in store" in unknown.stderr


def test_summary_names_the_non_images_once(world, tmp_path):
    root = train_valid(tmp_path / "d")
    (root / "train" / "cats" / "README.txt").write_text("about these cats")
    result = extract("--data", str(root), "--store", str(tmp_path / "s"), *world["common"])
    assert result.exit_code == 0, result.output
    assert summary_row(result.output, "skipped") == "0 hidden"
    assert notes(result.output) == ["1 file skipped as not meant to be images, e.g. train/cats/README.txt"]
    assert re.search(r"non-image", result.output) is None


# -- heads predict on what users bring ------------------------------------------------------------
@pytest.fixture(scope="module")
def head(world):
    from heads.fit import fit_head

    return fit_head(world["store"], "logreg", dataset="trainval", out=world["base"] / "head").folder


def predict(head, *args: str):
    return runner.invoke(heads_app, ["predict", "--head", str(head), *args])


def test_predict_on_an_unlabelled_extraction_reuses_every_stored_feature(world, head):
    result = predict(head, str(world["roots"]["incoming"]))  # no --dataset: features are found by content
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # no --out, stdout not a terminal: JSON alone on stdout
    assert payload["classes"] == ["cats", "dogs"] and len(payload["predictions"]) == 6
    assert {p["features"] for p in payload["predictions"]} == {"store"}
    assert "6 files: 6 from stored features, 0 computed from the image, 0 unusable" in result.stderr


def test_predict_a_csv_of_paths(world, head, tmp_path):
    images = tmp_path / "batch"
    for i, name in enumerate(("cats", "dogs")):
        image(images / "sub" / f"{name}.png", PALETTE[name], 8000 + i)
    image(images / "an_id.jpg", PALETTE["cats"], 8002)
    (images / "fake.jpg").write_text("<html>not an image</html>")
    (images / "list.csv").write_text("filename,comment\nsub/cats.png,a\nsub/dogs.png,b\nan_id,Kaggle id\n"
                                     "gone.png,c\nfake.jpg,d\n,blank\n")
    out = tmp_path / "predictions.csv"
    result = predict(head, str(images / "list.csv"), "--out", str(out), "--top", "1")
    assert result.exit_code == 0, result.output
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert list(rows) == ["cats.png", "dogs.png", "an_id.jpg", "gone.png", "fake.jpg"]
    assert all(rows[n]["features"] == "computed" and rows[n]["label"] == rows[n]["class_1"] and not rows[n]["error"]
               for n in ("cats.png", "dogs.png", "an_id.jpg"))
    assert rows["gone.png"]["error"] == "not found" and rows["gone.png"]["label"] == ""
    assert rows["fake.jpg"]["error"].startswith("not an image")
    assert "5 files: 0 from stored features, 3 computed from the image, 2 unusable" in result.output


def test_predict_threshold_labels_unsure_images_unknown(world, head):
    plain = json.loads(predict(head, str(world["roots"]["trainval"])).stdout)["predictions"]
    best = sorted(p["top"][0]["probability"] for p in plain)
    threshold = best[len(best) // 2]  # half of them below
    result = predict(head, str(world["roots"]["trainval"]), "--threshold", str(threshold))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["threshold"] == threshold
    for p in payload["predictions"]:
        top = p["top"][0]
        assert p["label"] == (top["class"] if top["probability"] >= threshold else "unknown")
    unsure = sum(p["label"] == "unknown" for p in payload["predictions"])
    assert unsure == sum(b < threshold for b in best) > 0
    assert f", {unsure} unknown (below {threshold})" in result.stderr


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_predict_threshold_out_of_range_is_refused(world, head, value):
    result = predict(head, str(world["roots"]["incoming"]), "--threshold", value)
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: --threshold is a probability in (0, 1]. Received: {float(value)}"


def test_predict_wide_is_a_kaggle_submission(world, head, tmp_path):
    folder = shutil.copytree(world["roots"]["dvc"] / "test1", tmp_path / "test1")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # a JPEG cut short
    (folder / "link.jpg").symlink_to(folder / "nowhere.jpg")  # a dangling link (inside: one leading outside is refused)
    out = tmp_path / "submission.csv"
    result = predict(head, str(folder), "--format", "wide", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["id", "cats", "dogs"]  # the head's column order
    assert sorted(r[0] for r in rows[1:]) == ["1", "2", "3", "4", "5"]  # the broken files have no row
    assert all(abs(float(r[1]) + float(r[2]) - 1) < 1e-5 for r in rows[1:])
    assert "unusable" in result.output and "broken.jpg" in result.output and "link.jpg: not found" in result.output


def test_threshold_is_refused_for_a_head_with_a_class_named_unknown(tmp_path_factory, tmp_path):
    from heads.fit import fit_head
    from tests.test_heads_support import built_store

    store = built_store(tmp_path_factory.getbasetemp(), "cats-unknown", classes=("cats", "unknown"))
    head = fit_head(store, "logreg", out=tmp_path / "head").folder
    images = new_images(tmp_path / "new", classes=("cats", "unknown"))
    assert predict(head, str(images)).exit_code == 0  # without --threshold the class is a class like any
    result = predict(head, str(images), "--threshold", "0.9")
    assert result.exit_code == 3 and "has a class named 'unknown'" in result.stderr


def test_predict_table_is_for_the_terminal_only(world, head, tmp_path):
    result = predict(head, str(world["roots"]["incoming"]), "--format", "table", "--out", str(tmp_path / "p.csv"))
    assert result.exit_code == 3 and not (tmp_path / "p.csv").exists()
    assert result.stderr.strip().startswith("error: --format table prints to the terminal")
    shown = predict(head, str(world["roots"]["incoming"]), "--format", "table")
    assert shown.exit_code == 0 and "photo0.png" in shown.stdout and "6 files:" in shown.stdout


def test_every_data_option_is_a_flag_of_extract_run():
    import inspect

    from extract.cli import run
    from extract.options import DATA_FIELDS

    assert DATA_FIELDS - {"name"} <= set(inspect.signature(run).parameters)  # name is --dataset
