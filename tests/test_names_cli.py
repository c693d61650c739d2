"""Readable names through the commands: `extract ls` shows them, `heads fit --config` takes them with views and
several sizes in the store (views never among the choices), `heads list` shows joined heads at 80 columns."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
from typer.testing import CliRunner

from extract.cli import app as extract_app
from heads.cli import app as heads_app
from store import FeatureStore
from tests.conftest import only_line
from tests.test_heads_support import TINY_RUN, binary_store, joined_store, private_copy  # noqa: F401

runner = CliRunner()
BOX = re.compile(r"[│┌┐└┘─┬┴├┤┼╭╮╰╯]")


@pytest.fixture(scope="module")
def named_store(joined_store, tmp_path_factory):
    """mobilenet@32 (with its flip view), mobilenet@40 and mobilenet_v2@32 over the same images."""
    from extract.api import run_extraction
    from extract.view_runs import run_tta

    store = private_copy(joined_store["store"], tmp_path_factory.mktemp("names") / "store")
    features = FeatureStore(store)
    first = joined_store["first"]
    index = features.dataset(joined_store["dataset"])
    run_tta(1, index, store, first, TINY_RUN)
    larger = dataclasses.replace(first, size=40, feature_shape=(), provenance={})
    run_extraction(index, store, larger, TINY_RUN)
    return store


def test_extract_ls_shows_every_configuration_by_name(named_store):
    result = runner.invoke(extract_app, ["ls", "--store", str(named_store)])
    assert result.exit_code == 0, result.output
    titles = re.findall(r"^(\S+@\S+)\s+\((\S+)\)\s*$", result.stdout, re.M)
    assert sorted(name for name, _ in titles) == ["mobilenet@32", "mobilenet@32+flip", "mobilenet@40",
                                                  "mobilenet_v2@32"]
    listing = json.loads(runner.invoke(extract_app, ["ls", "--store", str(named_store), "--json"]).stdout)
    assert {c["name"]: c["config"]["config_id"] for c in listing["configs"]} == dict(titles)
    one = runner.invoke(extract_app, ["ls", "--store", str(named_store), "--config", "mobilenet@32+flip"])
    assert one.exit_code == 0 and "mobilenet@32+flip" in one.stdout and "mobilenet@40" not in one.stdout


def test_heads_fit_config_takes_names_and_never_offers_a_view(named_store, tmp_path):
    store = private_copy(named_store, tmp_path / "store")
    unchosen = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg"])
    assert unchosen.exit_code == 3, unchosen.output
    line = only_line(unchosen)
    assert "several configurations: choose one with --config NAME" in line and "+flip" not in line
    for choice in ("mobilenet@32 (32 px, layer conv_pw_5_relu, pool none, alpha 0.25)", "mobilenet@40 (40 px",
                   "mobilenet_v2@32 (32 px, layer block_6_project_BN"):
        assert choice in line, choice

    several = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg", "--config", "mobilenet"])
    assert several.exit_code == 3 and "Several configurations match 'mobilenet'" in only_line(several)
    assert "mobilenet_v2" not in only_line(several)  # an exact backbone name never matches mobilenet_v2
    view = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg", "--config", "mobilenet@32+flip"])
    assert view.exit_code == 3
    assert "mobilenet@32+flip is a test-time view of mobilenet@32" in only_line(view) and "--tta" in only_line(view)

    for selector, name in (("mobilenet@40", "mobilenet@40"), ("mobilenet_v2", "mobilenet_v2@32")):
        fitted = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg", "--config", selector,
                                           "--json"])
        assert fitted.exit_code == 0, fitted.output
        config_id = json.loads(fitted.stdout)["record"]["config_id"]
        assert FeatureStore(store).names().name(config_id) == name


def test_heads_list_of_joined_heads_reads_at_80_columns(named_store, tmp_path, monkeypatch):
    store = private_copy(named_store, tmp_path / "store")
    for configs in (["mobilenet@32", "mobilenet_v2@32"], ["mobilenet@40"]):
        args = ["fit", "--store", str(store), "--kind", "logreg"] + [a for c in configs for a in ("--config", c)]
        assert runner.invoke(heads_app, args).exit_code == 0
    rows = json.loads(runner.invoke(heads_app, ["list", "--store", str(store), "--json"]).stdout)
    assert sorted(map(tuple, (r["config_names"] for r in rows))) == [("mobilenet@32", "mobilenet_v2@32"),
                                                                    ("mobilenet@40",)]
    monkeypatch.setenv("COLUMNS", "80")
    listed = runner.invoke(heads_app, ["list", "--store", str(store)])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in ("mobilenet@32", "mobilenet_v2@32", "mobilenet@40", "val acc", "val loss", "train acc", "fit s"):
        assert name in listed.stdout, name  # whole: never folded a character a line, never cut
    cells = [part for line in lines for part in BOX.sub(" ", line).split()]
    assert sum(len(cell) == 1 and cell not in "+*" for cell in cells) <= 2, listed.stdout


def test_heads_list_of_one_configuration_keeps_every_column_at_80_columns(named_store, tmp_path, monkeypatch):
    """One configuration, a parameter shown: the one-line layout just too wide for 80 columns once cut the
    last column to one character ("fit s" became "f"); the table then goes to lines under each head."""
    store = private_copy(named_store, tmp_path / "store")
    args = ["fit", "--store", str(store), "--kind", "logreg", "--config", "mobilenet@40", "--reduce", "avg"]
    assert runner.invoke(heads_app, args).exit_code == 0
    monkeypatch.setenv("COLUMNS", "80")
    listed = runner.invoke(heads_app, ["list", "--store", str(store), "--config", "mobilenet@40"])
    assert listed.exit_code == 0, listed.output
    head = json.loads(runner.invoke(heads_app, ["list", "--store", str(store), "--json"]).stdout)[0]["head_id"]
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    for text in (head, "reduce=avg", "val acc", "val loss", "train acc", "fit s"):
        assert text in listed.stdout, (text, listed.stdout)
