"""Dataset indexes are checked too: an index is written with its digest (the run record holds the same one), so
labels edited inside an index are reported by `extract verify` and refused by `heads fit`, `heads eval`,
`heads finetune` and `heads ensemble`; the digest is computed once per index in a run."""
from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app as extract_app
from heads.cli import app as heads_app
from heads.errors import HeadError
from heads.evaluate import eval_head
from heads.fit import fit_head
from store import FeatureStore, datasets, runs
from store.layout import StoreLayout
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN, make_dataset, only_line

runner = CliRunner()


@pytest.fixture
def extracted(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    run_extraction(make_dataset(tmp_path / "data", per_class=4), store, TINY, TINY_RUN)
    return store


def _index_path(store: Path) -> Path:
    return datasets.index_paths(StoreLayout(store), "data")[-1]


def _flip_labels(path: Path, rows: int = 3) -> None:
    """What a hand edit does: some train rows relabelled inside the index file."""
    with h5py.File(path, "r+") as f:
        labels = f["label"][:]
        train = [i for i, s in enumerate(f["split"][:]) if s in (b"train", "train")][:rows]
        labels[train] = 1 - labels[train]
        f["label"][...] = labels


def test_index_and_run_record_hold_the_same_digest(extracted):
    layout = StoreLayout(extracted)
    index = datasets.read_dataset(_index_path(extracted))
    config_id = FeatureStore(extracted).configs()[0].config_id
    record = runs.run_records(layout, config_id)[-1]
    assert index.recorded_digest == index.digest() == record.digest
    assert verify_store(extracted).ok


def test_labels_edited_inside_an_index_are_reported_and_refused(extracted, tmp_path):
    path = _index_path(extracted)
    _flip_labels(path)
    before = path.read_bytes()
    report = verify_store(extracted)
    assert [p.path for p in report.problems] == [path]
    assert "was changed after it was written (its rows no longer match the digest written with it" in \
        report.problems[0].what

    with pytest.raises(HeadError, match="Refusing to fit: dataset index 'data' was changed after it was written"):
        fit_head(extracted, "logreg", out=tmp_path / "head")
    result = runner.invoke(heads_app, ["fit", "--store", str(extracted), "--kind", "logreg", "--out",
                                       str(tmp_path / "head")])
    assert result.exit_code == 3 and "Refusing to fit" in only_line(result)
    assert not (tmp_path / "head").exists() and path.read_bytes() == before  # nothing written, nothing changed

    shown = runner.invoke(extract_app, ["verify", "--store", str(extracted)])
    assert shown.exit_code == 1 and "changed after it was written" in shown.stdout.replace("\n", " ")


def test_eval_refuses_an_edited_index_as_fit_does(extracted, tmp_path):
    """Its labels would be the truth the head is scored against: a note beside wrong figures is not enough."""
    head = fit_head(extracted, "logreg", out=tmp_path / "head").folder
    figures = lambda result: (result["accuracy"], result["log_loss"], result["confusion_matrix"])  # noqa: E731
    clean = figures(eval_head(head))
    path = _index_path(extracted)
    _flip_labels(path)
    before = path.read_bytes()
    with pytest.raises(HeadError, match="Refusing to score: dataset index 'data' was changed after it was written"):
        eval_head(head)
    result = runner.invoke(heads_app, ["eval", "--head", str(head)])
    assert result.exit_code == 3 and "Refusing to score" in only_line(result)
    assert path.read_bytes() == before
    assert verify_store(extracted, repair=True).repaired == [path]
    run_extraction(extracted.parent / "data", extracted, TINY, TINY_RUN)  # indexes the data folder anew
    assert figures(eval_head(head)) == clean


def test_finetune_refuses_an_edited_index_as_fit_does(extracted, tmp_path):
    from heads.finetune.run import finetune_head

    head = fit_head(extracted, "dense", epochs=1, hidden=(4,), patience=0, out=tmp_path / "dense").folder
    _flip_labels(_index_path(extracted))
    with pytest.raises(HeadError, match="Refusing to fine-tune: dataset index 'data' was changed after it was written"):
        finetune_head(head, path="full", epochs=1, out=tmp_path / "tuned")
    assert not (tmp_path / "tuned").exists()


def test_ensemble_refuses_an_edited_index(extracted, tmp_path):
    from heads.ensemble import ensemble_heads

    members = [fit_head(extracted, "logreg", out=tmp_path / name).folder for name in ("a", "b")]
    _flip_labels(_index_path(extracted))
    for method in ("mean", "stack"):
        with pytest.raises(HeadError, match="Refusing to combine: dataset index 'data' was changed after it was"):
            ensemble_heads(members, method=method, out=tmp_path / "ensemble")
    assert not (tmp_path / "ensemble").exists()


def test_repair_and_a_rerun_restore_the_exact_figures(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=4)
    store = tmp_path / "store"
    run_extraction(data, store, TINY, TINY_RUN)
    clean = fit_head(store, "logreg", out=tmp_path / "clean").metrics
    edited = _index_path(store)
    _flip_labels(edited)
    assert verify_store(store, repair=True).repaired == [edited] and not edited.exists()
    run_extraction(data, store, TINY, TINY_RUN)  # indexes the data folder anew
    assert verify_store(store).ok
    assert fit_head(store, "logreg", out=tmp_path / "again").metrics == clean


def test_an_older_index_without_its_digest_is_compared_with_its_run_record(extracted):
    path = _index_path(extracted)
    with h5py.File(path, "r+") as f:
        del f.attrs["digest"]  # written before indexes carried their digest
    assert verify_store(extracted).ok  # unedited: its run record agrees
    _flip_labels(path)
    problems = verify_store(extracted).problems
    assert len(problems) == 1 and "no longer match the digest its run record holds" in problems[0].what


def test_the_digest_is_computed_once_per_index_in_a_run(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "data", per_class=3)
    calls = []
    real = datasets._rows_digest
    monkeypatch.setattr(datasets, "_rows_digest", lambda index: calls.append(index.name) or real(index))
    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert len(calls) == 1  # the new index: written with it, and recorded by the run, from one computation
    calls.clear()
    make_dataset(data, per_class=4, seed=5, splits=("train",))  # a changed dataset: the previous index too
    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert len(calls) == 2
