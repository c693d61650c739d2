"""Reading a chunk at a time gives what reading a split whole gave: eval metrics, a fit's features, its coefficients.

Probabilities agree to float32 rounding, not bit for bit: BLAS takes another kernel for a one-row
product (1 ulp of a probability near 1 is 1.2e-7), so they are compared within FLOAT32_ROUNDING.
"""
from __future__ import annotations

import numpy as np
import pytest

from heads import evaluate
from heads.artifact import load_head, resolve_head
from heads.data import CHUNK_MB, chunk_rows_for
from heads.evaluate import eval_head
from heads.fit import fit_head
from heads.fit_data import FitData
from store import FeatureStore
from tests.test_heads_support import binary_store, multi_store  # noqa: F401

FLOAT32_ROUNDING = 1e-6  # a few ulp of float32 near 1
EXACT = ("n", "accuracy", "balanced_accuracy", "macro_f1")


def test_a_chunk_is_a_constant_number_of_bytes_whatever_the_memory_limit():
    assert chunk_rows_for((7, 7, 512)) == CHUNK_MB * 2**20 // (4 * 7 * 7 * 512)
    assert chunk_rows_for((256,), memory_limit_mb=10**6) == CHUNK_MB * 2**20 // (4 * 256)
    assert chunk_rows_for((256,), memory_limit_mb=1) == 512  # a tight limit: the buffer's own bound
    assert chunk_rows_for((10**7,)) == 512  # at least a batch


@pytest.mark.parametrize("store_name", ["binary_store", "multi_store"])
def test_eval_in_chunks_of_one_row_gives_the_metrics_of_one_read(store_name, request, tmp_path, monkeypatch):
    store = request.getfixturevalue(store_name)
    folder = fit_head(store, "logreg", out=tmp_path / "head").folder
    whole = eval_head(folder)
    loaded = load_head(resolve_head(folder))
    index, views, _ = evaluate.head_data(loaded)
    rows = loaded.inputs.with_features(views, evaluate.binding.rows_to_score(
        loaded.class_names, loaded.rows, index, "validation", loaded.record["train_split"]))
    at_once = loaded.predict_parts(loaded.inputs.stored(views, list(rows.hashes)))  # every row in one read
    for chunk in (1, 5):
        got = evaluate.predict_rows(loaded, views, rows.hashes, chunk)
        np.testing.assert_allclose(got, at_once, rtol=0, atol=FLOAT32_ROUNDING)
    monkeypatch.setattr(evaluate, "chunk_rows_for", lambda *args, **kwargs: 5)
    chunked = eval_head(folder)
    assert len(rows) == whole["n"] > 5
    assert {key: chunked[key] for key in EXACT} == {key: whole[key] for key in EXACT}
    assert chunked["log_loss"] == pytest.approx(whole["log_loss"], abs=FLOAT32_ROUNDING)
    np.testing.assert_allclose(chunked.proba, whole.proba, rtol=0, atol=FLOAT32_ROUNDING)
    assert chunked.paths == whole.paths


def test_fit_reads_train_rows_into_one_float32_array_and_fits_the_same(binary_store, tmp_path, monkeypatch):
    data = FitData.prepare(binary_store, None, None, None, "train")
    view = FeatureStore(binary_store).view(data.views[0].config.config_id, data.index.name)
    as_stored = view.features_for(list(data.train.hashes))
    assert as_stored.dtype == np.float16
    read = data.read(data.train)
    assert read.dtype == np.float32 and np.array_equal(read, as_stored.astype(np.float32))
    default = fit_head(binary_store, "logreg", out=tmp_path / "default")
    monkeypatch.setattr(FitData, "chunk_rows", property(lambda self: 1))  # one row per read
    assert np.array_equal(data.read(data.train), read)
    one_by_one = fit_head(binary_store, "logreg", out=tmp_path / "one-by-one")
    coef = lambda result: result.estimator[-1].coef_  # noqa: E731
    assert np.array_equal(coef(one_by_one), coef(default))
    for split, metrics in default.metrics.items():  # scored a row at a time
        assert {k: one_by_one.metrics[split][k] for k in EXACT} == {k: metrics[k] for k in EXACT}
        assert one_by_one.metrics[split]["log_loss"] == pytest.approx(metrics["log_loss"], abs=FLOAT32_ROUNDING)
