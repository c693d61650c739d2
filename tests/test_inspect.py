"""heads.inspection on generated data with planted problems: near and exact duplicates, label flips, outliers.

The store is written straight from feature arrays (tests.planted): three classes as clusters, with
8 near copies (5 of them in validation: leaks), 2 exact copies in validation, 6 label flips in train
and 4 outliers. Measured on it (and asserted): duplicates 8/8 near and 2/2 exact found, no pair on the
clean data; the 6 flips are among the 8 least likely train labels (the other 2: outliers), cleanlab
flags 4 of the flips and 1 outlier, and nothing on the clean data; the 4 outliers are flagged and nothing on the clean data.
"""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from heads.cli import app
from heads.errors import HeadError
from heads.inspection import find_duplicates, find_neighbours, find_outliers, find_suspects
from store import derived
from store.layout import StoreLayout
from tests.planted import planted_store, write_rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_store(tmp_path_factory.mktemp("planted") / "store")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return planted_store(tmp_path_factory.mktemp("clean") / "store", plant=False)


def _groups(table) -> set[tuple[str, ...]]:
    return {tuple(sorted(members["path"])) for _, members in table.groupby("group")}


def test_planted_duplicates_are_found_and_leaks_counted(planted):
    found = find_duplicates(planted.root)
    groups = _groups(found.table)
    assert all(tuple(sorted(pair)) in groups for pair in planted.near + planted.exact)
    assert len(groups) == len(planted.near) + len(planted.exact)  # nothing else grouped
    assert found.record["exact_groups"] == 2 and found.record["near_groups"] == 8
    assert found.record["leaks"] == 7  # 5 near copies + 2 exact copies in validation, their originals in train
    assert any("7 validation/test files have a duplicate in train" in note for note in found.notes)


def test_clean_data_has_no_duplicates_no_suspects_no_outliers(clean):
    assert find_duplicates(clean.root).table.empty
    assert not find_suspects(clean.root).table["issue"].any()
    assert not find_outliers(clean.root).table["outlier"].any()


def test_planted_label_flips_are_the_least_likely_labels(planted):
    result = find_suspects(planted.root)
    train = result.table[result.table["split"] == "train"]
    planted_rows = set(planted.flipped) | set(planted.outliers)  # an outlier's given label is unlikely too
    top = set(train.head(8)["path"])
    assert set(planted.flipped) <= top <= planted_rows
    flagged = set(train.loc[train["issue"], "path"])
    assert len(flagged & set(planted.flipped)) >= 4 and flagged <= planted_rows
    assert result.record["kind"] == "logreg" and result.record["cv"] == 5


def test_planted_outliers_are_flagged(planted):
    table = find_outliers(planted.root).table
    assert set(table.loc[table["outlier"], "path"]) == set(planted.outliers)
    assert set(table.head(4)["path"]) == set(planted.outliers)


def test_spatial_features_are_reduced_as_the_rule_says_and_recorded(planted):
    auto = find_duplicates(planted.root).record
    pooled = find_duplicates(planted.root, reduce="avg").record
    assert auto["reduce"] == "flatten" and "flattened to 64 values (auto:" in auto["reduced"]
    assert pooled["reduce"] == "avg" and "global average pooled to 16 values" in pooled["reduced"]


def test_flat_features_refuse_pooling_in_one_line(tmp_path):
    store = planted_store(tmp_path / "store", shape=(24,), plant=False)
    with pytest.raises(HeadError, match="pools a spatial grid"):
        find_outliers(store.root, reduce="avg")


def test_a_class_too_small_to_cross_validate_gets_a_note_and_the_others_are_scored(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"train/{name}/{i}.png", label, "train", rng.standard_normal(8) + 3 * label)
            for label, (name, count) in enumerate([("a", 30), ("b", 30), ("c", 3)]) for i in range(count)]
    rows += [(f"validation/c/{i}.png", 2, "validation", rng.standard_normal(8) + 6) for i in range(3)]
    write_rows(tmp_path / "store", rows, ["a", "b", "c"], (8,), {})
    result = find_suspects(tmp_path / "store")
    assert any("fewer than 5 train images (c)" in note for note in result.notes)
    assert set(result.table["given"]) == {"a", "b"} and len(result.table) == 60
    few = [(path, label, split, vector) for path, label, split, vector in rows if label == 2]
    write_rows(tmp_path / "few", few + rows[:3], ["a", "b", "c"], (8,), {})
    with pytest.raises(HeadError, match="2 classes with at least 5 train images"):
        find_suspects(tmp_path / "few")


def test_neighbours_of_a_stored_row_leave_it_out_and_find_its_copy(planted):
    original, copy = planted.near[0]
    table = find_neighbours(planted.root, [original], k=3).table
    assert table["path"].iloc[0] == copy and original not in set(table["path"])
    assert table["similarity"].iloc[0] > 0.95 and list(table["rank"]) == [1, 2, 3]
    with pytest.raises(HeadError, match="Not a stored row"):
        find_neighbours(planted.root, ["no/such/file.png"])


def test_a_damaged_cache_is_recomputed_and_said(tmp_path):
    store = planted_store(tmp_path / "store")
    first = find_outliers(store.root)
    cached = sorted((StoreLayout(store.root).config_dir(store.config_id) / "derived").glob("neighbours-*.h5"))
    assert len(cached) == 1
    data = bytearray(cached[0].read_bytes())
    data[-200:-100] = bytes(100)  # flip bytes inside the stored arrays
    cached[0].write_bytes(bytes(data))
    second = find_outliers(store.root)
    assert any("recomputed" in note for note in second.notes)
    assert second.table["path"].tolist() == first.table["path"].tolist()
    assert derived.load(StoreLayout(store.root), store.config_id, "nothing", {"a": 1}).arrays is None


def test_cli_writes_tables_and_refuses_bad_input_in_one_line(planted, tmp_path):
    runner = CliRunner()
    out = tmp_path / "dups.csv"
    result = runner.invoke(app, ["inspect", "duplicates", "--store", str(planted.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "10 duplicate groups" in result.output and out.read_text().startswith("group,kind,path")
    result = runner.invoke(app, ["inspect", "suspects", "--store", str(planted.root), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["record"]["analysis"] == "suspects"
    result = runner.invoke(app, ["inspect", "duplicates", "--store", str(planted.root), "--threshold", "1.5"])
    assert result.exit_code == 3 and "Received: --threshold 1.5" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["inspect", "outliers", "--store", str(planted.root), "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 3 and ".csv or .json" in result.output


def test_fit_leaves_out_the_suspects_and_records_them(tmp_path):
    from heads.fit import fit_head

    store = planted_store(tmp_path / "store")
    plain = fit_head(store.root, "logreg", out=tmp_path / "plain")
    cleaned = fit_head(store.root, "logreg", exclude_suspects=True, out=tmp_path / "cleaned")
    excluded = cleaned.record["excluded"]
    assert plain.record["excluded"] is None
    assert excluded["count"] >= 4 and set(excluded["paths"]) <= set(store.flipped) | set(store.outliers)
    assert cleaned.record["sizes"]["train"] == plain.record["sizes"]["train"] - excluded["count"]
    listed = tmp_path / "list.txt"
    listed.write_text("\n".join(store.outliers))
    by_list = fit_head(store.root, "logreg", exclude=listed, out=tmp_path / "listed")
    assert sorted(by_list.record["excluded"]["paths"]) == sorted(store.outliers)
    assert any("4 train rows left out (listed in" in note for note in by_list.notes)


def test_the_inspection_page_shows_every_analysis_and_a_browser_draws_the_map(planted, tmp_path):
    import shutil
    import subprocess

    from PIL import Image

    from heads.report import inspect_data

    page = inspect_data(planted.root, out=tmp_path, gallery=6).read_text(encoding="utf-8")
    for anchor in ("data", "duplicates", "suspects", "outliers", "map"):
        assert f'<section id="{anchor}">' in page
    assert page.count("<title>") >= 200 and '<svg xmlns="http://www.w3.org/2000/svg" class="map"' in page
    assert "file not found here" in page and planted.flipped[0] in page  # files gone: shown by path
    assert "<script" not in page
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if browser is None:
        pytest.skip("no headless Chromium installed (Debian: apt-get install chromium)")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,6000", f"--screenshot={shot}", (tmp_path / f"inspect-{planted.config_id}.html")
                    .as_uri()], capture_output=True, timeout=120, check=True)
    with Image.open(shot) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    pixels = pixels.astype(int)
    blue = ((pixels[..., 2] - pixels[..., 0] > 60) & (pixels[..., 2] > 150)).sum()  # the first class's points
    assert blue > 1000

