"""Weights as a new user meets them: the data folder checked before any weights, a download that fails
offline answered in one line with the offline ways, the manifest's default_size used, files known by
their checksum, and the run summary saying what the configuration is."""
from __future__ import annotations

import json
import re
import socket

import pytest
from typer.testing import CliRunner

from extract import ExtractOptions, Extractor, known_weights
from extract.api import run_extraction
from extract.cli import app
from extract.weights import WEIGHTS_DIR_ENV, WeightsError
from store.shards import file_sha256
from tests.conftest import only_line, SYNTHETIC_WEIGHTS, TINY_RUN

runner = CliRunner()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network (name resolution and connections fail), an empty Keras cache, no local weights folder."""
    def unreachable(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution (network unreachable: test)")

    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: unreachable())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)


def test_offline_imagenet_is_one_line_naming_the_offline_ways(offline, dataset, tmp_path):
    result = runner.invoke(app, ["run", "--backbone", "mobilenet", "--alpha", "0.25", "--size", "128",
                                 "--data", str(dataset), "--store", str(tmp_path / "store")])
    assert result.exit_code == 3, result.output
    line = only_line(result)
    assert line.startswith("error: Could not download Keras's ImageNet weights of mobilenet")
    for way in ("--weights PATH", WEIGHTS_DIR_ENV, "KERAS_HOME", "Received: --weights imagenet"):
        assert way in line, way
    assert "Traceback" not in result.output and not (tmp_path / "store").exists()
    with pytest.raises(WeightsError, match="Could not download"):  # the same refusal from Python
        run_extraction(dataset, tmp_path / "store", ExtractOptions("mobilenet", alpha=0.25, size=128), TINY_RUN)


def test_the_data_folder_is_checked_before_any_weights(offline, dataset, tmp_path, monkeypatch):
    def no_weights(*args, **kwargs):
        raise AssertionError("weights resolved before the data folder was checked")

    monkeypatch.setattr("extract.api.as_extractor", no_weights)
    typo = runner.invoke(app, ["run", "--backbone", "mobilenet", "--data", str(tmp_path / "dat"),
                               "--store", str(tmp_path / "store")])
    assert typo.exit_code == 3 and only_line(typo) == f"error: Data folder not found. Received: --data {tmp_path / 'dat'}"
    table = runner.invoke(app, ["run", "--backbone", "mobilenet", "--data", str(dataset), "--labels", "nope.csv",
                                "--store", str(tmp_path / "store")])
    assert table.exit_code == 3 and "nope.csv" in only_line(table)
    views = runner.invoke(app, ["run", "--backbone", "mobilenet", "--data", str(tmp_path / "dat"), "--tta", "1",
                                "--store", str(tmp_path / "store")])
    assert views.exit_code == 3 and "Data folder not found" in only_line(views)
    assert not (tmp_path / "store").exists()


def _manifest(folder, **changes) -> None:
    path = folder / "MANIFEST.json"
    entries = json.loads(path.read_text())
    entries[0].update(changes)
    path.write_text(json.dumps(entries))


def test_the_manifest_default_size_is_used_when_size_is_not_given(synthetic_weights):
    weights = str(synthetic_weights / SYNTHETIC_WEIGHTS)
    assert Extractor.from_options(ExtractOptions("mobilenet", weights=weights)).config.size == 224  # no size known
    _manifest(synthetic_weights, default_size=40)
    assert Extractor.from_options(ExtractOptions("mobilenet", weights=weights)).config.size == 40
    assert Extractor.from_options(ExtractOptions("mobilenet", weights=weights, size=64)).config.size == 64


def test_the_real_small_file_gives_128_px_without_size(shared_weights):
    small = str(shared_weights / "mobilenet_2_5_128_tf_no_top.h5")
    config = Extractor.from_options(ExtractOptions("mobilenet", weights=small)).config
    assert (config.size, config.alpha, config.preprocess) == (128, 0.25, "tf")


def test_a_file_without_manifest_is_known_by_its_checksum_or_said_assumed(synthetic_weights, tmp_path, monkeypatch):
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "weights.h5").write_bytes((synthetic_weights / SYNTHETIC_WEIGHTS).read_bytes())
    unknown = Extractor.from_options(ExtractOptions("mobilenet", weights=str(loose / "weights.h5"), alpha=0.25))
    assert unknown.config.preprocess == "tf" and unknown.weights.preprocess_from == "the backbone's (assumed)"
    assert "assumed preprocessing 'tf'" in unknown.weights.note and "MANIFEST.json" in unknown.weights.note

    sha = file_sha256(loose / "weights.h5")
    monkeypatch.setitem(known_weights.BY_SHA256, sha, known_weights.KnownWeights(
        "mobilenet", "caffe", "a test's file", 48, 0.25))
    known = Extractor.from_options(ExtractOptions("mobilenet", weights=str(loose / "weights.h5")))
    assert (known.config.preprocess, known.config.size, known.config.alpha) == ("caffe", 48, 0.25)
    assert known.weights.note is None and known.weights.preprocess_from == "known file: a test's file"
    with pytest.raises(WeightsError, match="for backbone mobilenet .known by its checksum.. Received: --backbone vgg16"):
        Extractor.from_options(ExtractOptions("vgg16", weights=str(loose / "weights.h5")))


def test_the_torchvision_vgg16_without_its_manifest_still_gets_torch(shared_weights, tmp_path):
    (tmp_path / "vgg16.h5").symlink_to(shared_weights / "vgg16_imagenet_torchvision_notop.h5")
    config = Extractor.from_options(ExtractOptions("vgg16", weights=str(tmp_path / "vgg16.h5"))).config
    assert config.preprocess == "torch"  # Keras's default for VGG16 would be caffe: wrong for these weights


def test_the_run_summary_says_what_the_configuration_is(synthetic_weights, dataset, tmp_path):
    weights = str(synthetic_weights / SYNTHETIC_WEIGHTS)
    result = runner.invoke(app, ["run", "--backbone", "mobilenet", "--weights", weights, "--size", "32",
                                 "--layer", "conv_pw_1_relu", "--pool", "avg", "--data", str(dataset),
                                 "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    summary = " ".join(re.sub(r"[│┌┐└┘─┬┴├┤┼]", " ", result.stdout).split())
    assert "extract run: mobilenet@32" in summary
    for shown in ("backbone mobilenet (alpha 0.25)", "size / layer / pool 32 px (squash) / conv_pw_1_relu / avg",
                  "preprocessing tf (the weights' manifest)"):
        assert shown in summary, shown
    assert "extracting" not in result.stdout  # the progress bar went to stderr
