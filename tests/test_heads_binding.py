"""A head is bound to the rows it was trained on: when the data under it changes (a class added, files moved
between splits by another --val-fraction), eval scores it by class name and by its own split record, says
what changed, and never gives a silently wrong figure. For plain and fine-tuned heads."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from extract import DataOptions, run_extraction
from heads import binding
from heads.ensemble import ensemble_heads
from heads.errors import HeadError
from heads.evaluate import eval_head, list_store_heads
from heads.finetune.run import finetune_head
from heads.fit import fit_head
from heads.record import HeadRows
from tests.test_heads_support import TINY, TINY_RUN, image, tiny_weights

COLOURS = {"apes": (230, 200, 40), "cats": (210, 50, 40), "dogs": (30, 70, 210)}


def _flat(root: Path, classes, count: int = 16, seed: int = 0) -> Path:
    counter = seed * 10_000
    for name in classes:
        for i in range(count):
            counter += 1
            image(root / name / f"{name}.{i}.png", COLOURS[name], counter)
    return root


def _extract(data: Path, store: Path, weights: Path, val_fraction: float):
    run = dataclasses.replace(TINY_RUN, data=DataOptions(val_fraction=val_fraction))
    return run_extraction(data, store, dataclasses.replace(TINY, weights=str(weights)), run)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("binding")
    weights = tiny_weights(root / "tiny.weights.h5")
    data = _flat(root / "data", ("cats", "dogs"))
    store = root / "store"
    _extract(data, store, weights, val_fraction=0.3)
    logreg = fit_head(store, "logreg")
    dense = fit_head(store, "dense", epochs=3, batch_size=8, hidden=(8,), patience=0, learning_rate=1e-3)
    tuned = finetune_head(dense.folder, data, blocks=1, views=1, epochs=2, batch_size=8, learning_rate=0.01,
                          patience=0)
    return {"root": root, "weights": weights, "data": data, "store": store, "logreg": logreg, "tuned": tuned}


def _copy(world, name: str) -> tuple[Path, Path]:
    """A private copy of the data (a folder of the same name: the same dataset) and the store, with its heads."""
    data, store = world["root"] / name / "data", world["root"] / name / "store"
    shutil.copytree(world["data"], data)
    shutil.copytree(world["store"], store)
    return data, store


@pytest.mark.parametrize("head", ["logreg", "tuned"])
def test_a_class_added_is_not_scored_as_one_the_head_knows(world, head):
    data, store = _copy(world, f"added-{head}")
    folder = store / "heads" / world[head].head_id
    before = eval_head(folder, "validation", store=store)
    _flat(data, ("apes",), seed=5)  # sorts first: integer labels of cats and dogs shift by one
    _extract(data, store, world["weights"], val_fraction=0.3)
    after = eval_head(folder, "validation", store=store)
    assert after["confusion_labels"] == ["cats", "dogs"] and after["n"] == before["n"]
    assert after["accuracy"] == before["accuracy"] and after["confusion_matrix"] == before["confusion_matrix"]
    notes = " ".join(after["notes"])
    assert "classes changed since the head was fitted: added apes (not scored)" in notes
    assert "of classes the head was not trained on (apes): not scored" in notes


@pytest.mark.parametrize("head", ["logreg", "tuned"])
def test_train_rows_are_never_scored_as_validation_after_another_val_fraction(world, head):
    data, store = _copy(world, f"moved-{head}")
    folder = store / "heads" / world[head].head_id
    before = eval_head(folder, "validation", store=store)
    _extract(data, store, world["weights"], val_fraction=0.6)  # many train files now fall in validation
    after = eval_head(folder, "validation", store=store)
    assert after["n"] == before["n"] and after["accuracy"] == before["accuracy"]
    assert any("hold content the head was trained on" in note and "not scored as validation" in note
               for note in after["notes"]), after["notes"]
    assert {r["head_id"]: r["data_changed"] for r in list_store_heads(store)}[after["head_id"]] is True
    assert {r["head_id"]: r["data_changed"] for r in list_store_heads(world["store"])}[after["head_id"]] is False


def test_an_ensemble_scores_only_rows_every_member_scores_there(world, tmp_path):
    data, store = _copy(world, "moved-ensemble")
    folder = store / "heads" / world["logreg"].head_id
    before = eval_head(folder, "validation", store=store)
    _extract(data, store, world["weights"], val_fraction=0.6)  # the member's train files now fall in validation
    ensemble = ensemble_heads([folder], store=store, out=tmp_path / "ensemble")
    assert ensemble.record["sizes"]["validation"] == before["n"]
    assert ensemble.record["metrics"]["validation"]["accuracy"] == pytest.approx(before["accuracy"])
    assert any("hold content the head was trained on" in note for note in ensemble.notes), ensemble.notes
    on_validation = fit_head(store, "logreg", config=world["logreg"].record["config_id"], train_split="validation",
                             out=tmp_path / "fitted-on-validation")
    with pytest.raises(HeadError, match="fitted on one split"):
        ensemble_heads([folder, on_validation.folder], store=store, out=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_binding_rules_on_a_small_index():
    class Index:  # the fields heads.binding reads from a dataset index
        classes = ["apes", "cats", "dogs"]
        labels = np.array([1, 2, 1, 0, 2, 1])
        splits = ["train", "train", "validation", "validation", "validation", "validation"]
        hashes = ["a", "b", "c", "d", "e", "a"]  # "a" is in train and, as a copy, in validation
        paths = ["1.png", "2.png", "3.png", "4.png", "5.png", "6.png"]
        reasons = [""] * 6

    head_names = ["cats", "dogs"]
    recorded = HeadRows(np.array(["a", "b", "c", "e"]), np.array(["train", "train", "validation", "train"]),
                        np.array([0, 1, 0, 1]))
    rows = binding.rows_to_score(head_names, recorded, Index, "validation")
    assert rows.hashes == ["c"] and rows.labels.tolist() == [0]  # e was trained on, a is a copy, d is an ape
    text = " ".join(rows.notes)
    assert "2 rows of validation hold content the head was trained on" in text
    assert "1 row of validation is of classes the head was not trained on (apes): not scored" in text
    train = binding.rows_to_score(head_names, recorded, Index, "train")
    assert sorted(train.hashes) == ["a", "a", "b", "e"]
    with pytest.raises(HeadError, match="none in common"):
        binding.check_classes(["birds"], Index)
