"""Housekeeping: `extract rm` (a configuration with its views, a dataset) refused while heads depend on it,
`heads rm`, `heads predict` keeping what it computed, unique `--format wide` ids, `heads kinds NAME`."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from extract.cli import app as extract_app
from heads.cli import app as heads_app
from heads.predict_output import wide_ids
from store import FeatureStore
from store.datasets import PREDICTED_DATASET
from store.lock import writer_lock
from tests.conftest import only_line
from tests.test_heads_support import binary_store, new_images, private_copy  # noqa: F401

runner = CliRunner()


@pytest.fixture(scope="module")
def store_with_a_view(binary_store, tmp_path_factory):
    """The binary store plus its flip view, and a logreg head reading the plain configuration."""
    from extract.view_runs import run_tta
    from heads.fit import fit_head

    store = private_copy(binary_store, tmp_path_factory.mktemp("rm") / "store")
    features = FeatureStore(store)
    plain = features.select()
    run_tta(1, features.dataset(), store, plain)
    head = fit_head(store, "logreg").head_id
    return store, plain, head


def test_extract_rm_refuses_while_a_head_reads_the_configuration_then_removes_it_with_its_view(
        store_with_a_view, tmp_path):
    store = private_copy(store_with_a_view[0], tmp_path / "store")
    plain, head = store_with_a_view[1:]
    names = FeatureStore(store).names()
    assert sorted(names.name(c) for c in names.configs) == ["mobilenet@32", "mobilenet@32+flip"]
    before = sorted(p.relative_to(store) for p in store.rglob("*"))

    refused = runner.invoke(extract_app, ["rm", "--store", str(store), "--config", "mobilenet@32"])
    assert refused.exit_code == 3, refused.output
    assert f"Refusing to remove mobilenet@32, mobilenet@32+flip: {head} depends on it" in only_line(refused)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # nothing touched

    view_only = runner.invoke(extract_app, ["rm", "--store", str(store), "--config", "mobilenet@32+flip", "--json"])
    assert view_only.exit_code == 0, view_only.output  # no head reads the view itself
    assert json.loads(view_only.stdout)["removed"][0].startswith("configuration mobilenet@32+flip")
    assert [c.config_id for c in FeatureStore(store).configs()] == [plain.config_id]

    forced = runner.invoke(extract_app, ["rm", "--store", str(store), "--config", plain.config_id[:14], "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"removed configuration mobilenet@32 ({plain.config_id})" in forced.stdout
    assert head in forced.stderr  # said: the head is left without its configuration
    assert FeatureStore(store).configs() == [] and not any((store / "configs").iterdir())
    evaluated = runner.invoke(heads_app, ["eval", "--store", str(store), "--head", head])
    assert evaluated.exit_code == 3 and "Refusing: use the head with its own store" in only_line(evaluated)


def test_extract_rm_waits_for_a_run_and_removes_a_dataset_only_when_no_head_needs_it(store_with_a_view, tmp_path):
    store = private_copy(store_with_a_view[0], tmp_path / "store")
    plain, head = store_with_a_view[1:]
    layout = FeatureStore(store).layout
    with writer_lock(layout.lock_file(plain.config_id)):  # a run writing the view's plain twin
        busy = runner.invoke(extract_app, ["rm", "--store", str(store), "--config", "mobilenet@32", "--force"])
    assert busy.exit_code == 1 and "Another extract run is writing this configuration" in only_line(busy)
    assert len(FeatureStore(store).configs()) == 2  # nothing removed under a writer
    dataset = FeatureStore(store).datasets()[0]
    refused = runner.invoke(extract_app, ["rm", "--store", str(store), "--dataset", dataset])
    assert refused.exit_code == 3 and head in only_line(refused)
    removed_head = runner.invoke(heads_app, ["rm", "--store", str(store), "--head", head])
    assert removed_head.exit_code == 0 and f"removed head {head}" in removed_head.stdout
    assert not (store / "heads" / head).exists() and not list((store / "heads").glob(".*"))
    gone = runner.invoke(extract_app, ["rm", "--store", str(store), "--dataset", dataset])
    assert gone.exit_code == 0, gone.output
    assert FeatureStore(store).datasets() == [] and len(FeatureStore(store).names().choices) == 1  # features stay
    unknown = runner.invoke(extract_app, ["rm", "--store", str(store), "--dataset", dataset])
    assert unknown.exit_code == 3 and f"No dataset {dataset!r}" in only_line(unknown)
    neither = runner.invoke(extract_app, ["rm", "--store", str(store)])
    assert neither.exit_code == 2 and "Received: neither" in only_line(neither)


def test_heads_predict_keeps_what_it_computed_and_reads_it_next_time(binary_store, tmp_path):
    from heads.fit import fit_head

    store = private_copy(binary_store, tmp_path / "store")
    head = fit_head(store, "logreg").head_id
    images = new_images(tmp_path / "new", count=2)
    args = ["predict", "--head", head, "--store", str(store), str(images), "--format", "json"]
    first = runner.invoke(heads_app, args)
    assert first.exit_code == 0, first.output
    assert [p["features"] for p in json.loads(first.stdout)["predictions"]] == ["computed"] * 4
    assert f"4 images' features kept in {store} (dataset {PREDICTED_DATASET})" in first.stderr
    second = runner.invoke(heads_app, args)
    assert [p["features"] for p in json.loads(second.stdout)["predictions"]] == ["store"] * 4
    for a, b in zip(json.loads(first.stdout)["predictions"], json.loads(second.stdout)["predictions"]):
        assert a["label"] == b["label"] and abs(a["top"][0]["probability"] - b["top"][0]["probability"]) < 1e-6
    features = FeatureStore(store)
    assert PREDICTED_DATASET in features.datasets()
    assert features.view(dataset=PREDICTED_DATASET).split_counts() == {"unlabelled": 4}
    assert features.dataset().name != PREDICTED_DATASET  # never chosen unless named: heads fit reads the real one

    others = new_images(tmp_path / "more", count=1, seed=5)
    untouched = runner.invoke(heads_app, ["predict", "--head", head, "--store", str(store), str(others),
                                          "--format", "json", "--no-keep"])
    assert [p["features"] for p in json.loads(untouched.stdout)["predictions"]] == ["computed"] * 2
    assert FeatureStore(store).view(dataset=PREDICTED_DATASET).split_counts() == {"unlabelled": 4}


def test_wide_ids_are_unique_and_the_output_says_why_they_are_paths(binary_store, tmp_path):
    from heads.fit import fit_head

    assert wide_ids(["d/a/1.jpg", "d/b/2.jpg"]) == (["1", "2"], None)
    ids, note = wide_ids(["d/a/1.jpg", "d/b/1.jpg", "d/b/2.jpg"])
    assert ids == ["a/1", "b/1", "b/2"] and "2 files share a name" in note
    assert wide_ids(["d/1.jpg", "d/1.png"])[0] == ["1.jpg", "1.png"]

    store = private_copy(binary_store, tmp_path / "store")
    head = fit_head(store, "logreg").head_id
    images = new_images(tmp_path / "new", count=1)
    shutil.copyfile(images / "cats" / "new.cats.0.png", images / "dogs" / "new.cats.0.png")
    out = tmp_path / "wide.csv"
    result = runner.invoke(heads_app, ["predict", "--head", head, "--store", str(store), str(images), "--out", str(out),
                                       "--format", "wide", "--no-keep"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert [r[0] for r in rows[1:]] == ["cats/new.cats.0", "dogs/new.cats.0", "dogs/new.dogs.0"]
    assert "share a name" in result.stderr


def test_heads_kinds_name_shows_each_default_and_the_library_s():
    result = runner.invoke(heads_app, ["kinds", "logreg"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()[:1].isalpha()}
    assert lines["C"][:2] == ["0.01", "1.0"] and lines["max_iter"][:2] == ["500", "100"]
    assert "0.0001, 0.001, 0.01" in result.stdout  # what --search tries
    refused = runner.invoke(heads_app, ["kinds", "lasso"])
    assert refused.exit_code == 2


def test_a_removal_killed_midway_leaves_no_half_configuration(store_with_a_view, tmp_path):
    import os
    import socket

    store = private_copy(store_with_a_view[0], tmp_path / "store")
    plain = store_with_a_view[1]
    layout = FeatureStore(store).layout
    folder = layout.config_dir(plain.config_id)
    # What store.atomic.remove_folder does first, by a process that was then killed (pid 4194305: none).
    halfway = folder.with_name(f".{folder.name}.4194305.deadbeef.{socket.gethostname().encode().hex()}.tmp")
    os.rename(folder, halfway)
    (halfway / "shards").rename(halfway / "shards-partly-deleted")
    assert [c.config_id for c in FeatureStore(store).configs()] != [] and plain.config_id not in [
        c.config_id for c in FeatureStore(store).configs()]  # readers never see half of it
    checked = runner.invoke(extract_app, ["verify", "--store", str(store)])
    assert checked.exit_code == 1 and str(halfway) in checked.stdout
    repaired = runner.invoke(extract_app, ["verify", "--store", str(store), "--repair"])
    assert repaired.exit_code == 0 and not halfway.exists()
