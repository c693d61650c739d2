"""Named dataset indexes: their digest, their rows, their names, and several of them in one store."""
import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app
from store import FeatureStore, StoreError, init_store
from store.datasets import (KEEP_INDEXES, DatasetIndex, check_dataset_name, dataset_names, index_paths,
                            latest_dataset, read_dataset, write_dataset)
from store.verify import verify_store
from store.runs import KEEP_RECORDS, RunRecord, latest_run_record, record_paths, write_run_record
from tests.conftest import TINY, TINY_RUN, make_dataset

H = [f"{i:064x}" for i in range(6)]


def sample(**changes) -> DatasetIndex:
    fields = dict(name="pets", data_root="/data/pets", classes=["cats", "dogs"],
                  paths=["c/0.png", "c/1.png", "d/0.png", "d/1.png", "x/bad.png", "u/0.png"],
                  labels=[0, 0, 1, 1, 0, -1], splits=["train", "validation", "train", "validation", "train", "test"],
                  hashes=H[:4] + ["", H[5]], reasons=["", "", "", "", "unreadable: truncated", ""],
                  split_sources=["train", "val", "train", "val", "train", "test"], source={"layout": "splits"},
                  stats={"skipped_hidden": 1})
    fields.update(changes)
    return DatasetIndex(**fields)


def reordered(index: DatasetIndex, order: list[int]) -> DatasetIndex:
    pick = lambda values: [values[i] for i in order]  # noqa: E731
    return sample(paths=pick(index.paths), labels=pick(list(index.labels)), splits=pick(index.splits),
                  hashes=pick(index.hashes), reasons=pick(index.reasons), split_sources=pick(index.split_sources))


def test_digest_follows_labels_and_splits_not_order_or_paths():
    base = sample()
    assert reordered(base, [5, 3, 1, 0, 4, 2]).digest() == base.digest()
    assert sample(paths=[f"renamed/{i}.png" for i in range(6)]).digest() == base.digest()
    assert sample(reasons=["", "", "", "", "another reason", ""]).digest() == base.digest()  # unusable rows
    assert sample(labels=[0, 1, 1, 1, 0, -1]).digest() != base.digest()
    assert sample(splits=["train", "train", "train", "validation", "train", "test"]).digest() != base.digest()
    assert sample(classes=["cat", "dog"]).digest() != base.digest()  # compared by name, not by integer
    assert sample(hashes=[H[1], H[0], *H[2:4], "", H[5]]).digest() != base.digest()  # contents swap labels


def test_rows_are_the_usable_rows_of_a_split():
    index = sample()
    assert index.rows("train").tolist() == [0, 2] and index.rows("test").tolist() == [5]
    assert index.split_names() == ["test", "train", "validation"]
    assert index.labels.dtype == np.int32 and index.class_name(-1) == ""
    with pytest.raises(StoreError, match="No split 'val' in dataset 'pets'. Known: test, train, validation"):
        index.rows("val")
    with pytest.raises(StoreError, match="labels must lie in -1..1"):
        sample(labels=[0, 0, 2, 1, 0, -1])
    with pytest.raises(StoreError, match="columns differ in length"):
        sample(splits=["train"])


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", ".hidden", "x" * 200, "trailing ", "dot.", "a\nb"])
def test_unsafe_dataset_names_are_refused_in_one_line(name):
    with pytest.raises(StoreError, match="A dataset name is .* Received: ") as error:
        check_dataset_name(name)
    assert "\n" not in str(error.value).replace(repr(name), "")


def test_write_read_keeps_every_column_and_the_newest_indexes(tmp_path):
    layout = init_store(tmp_path / "store")
    first = write_dataset(layout, sample())
    back = read_dataset(first)
    for column in ("name", "data_root", "classes", "paths", "splits", "hashes", "reasons", "split_sources",
                   "source", "stats"):
        assert getattr(back, column) == getattr(sample(), column), column
    assert (back.labels == sample().labels).all() and back.created
    assert write_dataset(layout, sample()) == first, "an identical index is not written again"
    for i in range(KEEP_INDEXES + 2):
        write_dataset(layout, sample(labels=[0, 0, 1, 1, 0, i % 2]))
    assert len(index_paths(layout, "pets")) == KEEP_INDEXES
    write_dataset(layout, sample(name="holdout"))
    assert dataset_names(layout) == ["holdout", "pets"], "every name is kept"
    assert latest_dataset(layout, "pets").labels[-1] == (KEEP_INDEXES + 1) % 2


def test_run_records_keep_the_newest(tmp_path):
    layout = init_store(tmp_path / "store")
    for i in range(KEEP_RECORDS + 3):
        write_run_record(layout, RunRecord("cfg-1", "pets", f"{i:064x}", {"extracted": i}, devices=["CPU"]))
    assert len(record_paths(layout, "cfg-1")) == KEEP_RECORDS
    latest = latest_run_record(layout, "cfg-1")
    assert latest.stats == {"extracted": KEEP_RECORDS + 2} and latest.devices == ["CPU"] and latest.created


def test_two_datasets_in_one_store_are_kept_and_chosen_by_name(tmp_path):
    store = tmp_path / "store"
    pets = make_dataset(tmp_path / "pets", per_class=4)
    holdout = make_dataset(tmp_path / "holdout", per_class=2, splits=("test",), seed=3)
    first = run_extraction(pets, store, TINY, TINY_RUN)
    run_extraction(holdout, store, TINY, TINY_RUN)
    features = FeatureStore(store)
    assert features.datasets() == ["holdout", "pets"]
    index, note = features.dataset_choice()
    assert index.name == "holdout" and "2 datasets in the store (holdout, pets); using the newest" in note
    chosen, note_for_a_name = features.dataset_choice("pets")
    assert chosen.name == "pets" and note_for_a_name is None
    view = features.view(dataset="pets")
    assert view.split_counts() == {"train": 8, "validation": 8} and view.note is None
    assert features.view().split_counts() == {"test": 4} and features.view().note == note
    assert features.view(dataset="holdout").missing("test") == []
    with pytest.raises(StoreError, match="No dataset 'pet' in the store. Known: holdout, pets"):
        features.view(dataset="pet")

    assert verify_store(store).ok  # each dataset's rows checked against the shards
    record = latest_run_record(features.layout, first.config.config_id)
    assert (record.dataset, record.digest) == ("holdout", features.dataset("holdout").digest())
    listing = CliRunner().invoke(app, ["ls", "--store", str(store)])
    assert listing.exit_code == 0
    assert "dataset holdout" in listing.output and "test 4" in listing.output
    assert "dataset pets" in listing.output and "train 8, validation 8" in listing.output
    only = CliRunner().invoke(app, ["ls", "--store", str(store), "--dataset", "holdout"])
    assert only.exit_code == 0 and "dataset pets" not in only.output
    unknown = CliRunner().invoke(app, ["ls", "--store", str(store), "--dataset", "nope"])
    assert unknown.exit_code == 3 and "Known: holdout, pets" in unknown.output
    markers = (store / "configs" / first.config.config_id / "shards").glob("*.commit.json")
    next(m for m in markers if json.loads(m.read_text())["count"] == 16).unlink()  # pets' rows lose their features
    problems = [p.what for p in verify_store(store).problems]
    assert any("indexed images have no features (dataset 'pets'" in what for what in problems), problems


def test_missing_lists_the_rows_a_configuration_has_not_extracted(tmp_path):
    data, store = make_dataset(tmp_path / "data", per_class=3), tmp_path / "store"
    run_extraction(data, store, TINY, dataclasses.replace(TINY_RUN, splits=["train"]))
    view = FeatureStore(store).view()
    assert view.split_counts() == {"train": 6}
    assert sorted(view.missing("validation")) == sorted(
        f"validation/{c}/{c}.validation.{i}.png" for c in ("cats", "dogs") for i in range(3))
    assert view.missing("train") == []
    assert FeatureStore(store).dataset().split_names() == ["train", "validation"], "the index describes all the data"
