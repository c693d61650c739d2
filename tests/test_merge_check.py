"""Issue 20: `extract merge --from` checks what it imports. A sample of each imported shard's images is
extracted again here; a shard whose rows hold other images' features (its marker signed again, so its
bytes look committed) is refused, an honest store merges, and what could not be checked is said."""
from __future__ import annotations

import dataclasses
import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app as extract_app
from extract.import_check import merge_checked
from store import FeatureStore
from tests.conftest import TINY, TINY_RUN
from tests.test_trust_store import read_all, refusal, resign, shard_files

RUN = dataclasses.replace(TINY_RUN, shard_size=6)
runner = CliRunner()


@pytest.fixture
def other(dataset, tmp_path):
    """A store extracted elsewhere (another node), its dataset index pointing at the same data folder."""
    store = tmp_path / "other"
    run_extraction(dataset, store, TINY, RUN)
    return store


def swap_rows(shard) -> None:
    """The shard's feature rows moved one place: every row keyed on one image holds another's features."""
    with h5py.File(shard, "r+") as f:
        f["features"][...] = np.roll(f["features"][()], 1, axis=0)
    resign(shard)


def merge(central, other, *extra):
    return runner.invoke(extract_app, ["merge", "--store", str(central), "--from", str(other), *extra])


def test_an_honest_store_merges_after_its_sample_is_checked(dataset, tmp_path, other):
    result = merge(tmp_path / "central", other)
    assert result.exit_code == 0, result.output
    assert "Checked 16 imported rows against their images: they agree" in result.stderr  # 4 shards x 4
    assert run_extraction(dataset, tmp_path / "central", TINY, RUN).extracted == 0  # every row imported
    np.testing.assert_array_equal(read_all(tmp_path / "central"), read_all(other))


def test_a_shard_holding_other_images_features_is_refused(dataset, tmp_path, other):
    victim = shard_files(other)[0]
    swap_rows(victim)
    central = tmp_path / "central"
    result = merge(central, other)
    line = refusal(result)
    assert result.exit_code == 3 and victim.name in line and "refused" in line, line
    report = FeatureStore(central)
    assert len(shard_files(central)) == 3  # the three honest shards imported
    again = run_extraction(dataset, central, TINY, RUN)  # the refused shard's images are extracted here
    assert again.extracted == 6 and again.cached == 18
    reference = tmp_path / "reference"
    run_extraction(dataset, reference, TINY, RUN)
    np.testing.assert_allclose(read_all(central), read_all(reference), rtol=1e-5, atol=1e-6)
    assert report.configs()


def test_check_all_and_check_0(dataset, tmp_path, other):
    swap_rows(shard_files(other)[1])
    every, checks = merge_checked(tmp_path / "all", [other], "all")
    assert every.refused_shards == 1 and checks.checked == 18
    trusted = merge(tmp_path / "trusted", other, "--check", "0")
    assert trusted.exit_code == 0 and "--check 0: imported shards trusted" in trusted.stderr
    bad = merge(tmp_path / "bad", other, "--check", "some")
    assert bad.exit_code == 3 and "Received: 'some'" in refusal(bad)
    assert not (tmp_path / "bad").exists()


def test_what_could_not_be_checked_is_said(dataset, tmp_path, other):
    shutil.rmtree(dataset / "validation")  # those images are no longer on disk
    result = merge(tmp_path / "central", other)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if "could not be checked" in line)
    assert "no image on disk" in line and "2 shards imported unchecked" in line, line
