"""Weights resolution: manifests, checksums, the offline directory, mismatches.

Every refusal runs on a small synthetic weights file made by the test (tests/conftest.py); only
the facts about the real shared files need ../shared.
"""
import json

import pytest

from extract import ExtractOptions, Extractor
from extract.backbones import get_backbone
from extract.weights import WEIGHTS_DIR_ENV, WeightsError, resolve_weights
from store.shards import file_sha256
from tests.conftest import SYNTHETIC_WEIGHTS

SMALL = "mobilenet_2_5_128_tf_no_top.h5"


def test_real_manifest_brings_preprocessing_alpha_and_checksum(shared_weights):
    vgg = resolve_weights(get_backbone("vgg16"), str(shared_weights / "vgg16_imagenet_torchvision_notop.h5"))
    assert vgg.preprocess == "torch"  # not Keras's caffe default for VGG16
    small = resolve_weights(get_backbone("mobilenet"), str(shared_weights / SMALL))
    assert small.alpha == 0.25 and small.preprocess == "tf"
    assert small.sha256 == "395ba464e7cd1db71fe163470d17319a27677a17c733d7c79d9a4ff5d936e959"


def test_manifest_brings_preprocessing_alpha_and_checksum(synthetic_weights):
    path = synthetic_weights / SYNTHETIC_WEIGHTS
    resolved = resolve_weights(get_backbone("mobilenet"), str(path))
    assert resolved.alpha == 0.25 and resolved.preprocess == "tf"
    assert resolved.sha256 == json.loads((synthetic_weights / "MANIFEST.json").read_text())[0]["sha256"]
    assert resolved.sha256 == file_sha256(path)
    forced = resolve_weights(get_backbone("mobilenet"), str(path), preprocess="caffe")
    assert forced.preprocess == "caffe"


def test_checksum_mismatch_is_refused(synthetic_weights):
    with open(synthetic_weights / SYNTHETIC_WEIGHTS, "r+b") as handle:
        handle.seek(-100, 2)
        handle.write(b"\xde\xad\xbe\xef" * 4)
    with pytest.raises(WeightsError, match="does not match its MANIFEST.json sha256"):
        resolve_weights(get_backbone("mobilenet"), str(synthetic_weights / SYNTHETIC_WEIGHTS))


def test_wrong_backbone_per_manifest_is_refused(synthetic_weights):
    with pytest.raises(WeightsError, match="is for backbone 'mobilenet'.*Received: --backbone vgg16"):
        resolve_weights(get_backbone("vgg16"), str(synthetic_weights / SYNTHETIC_WEIGHTS))


@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")  # Keras, before it refuses
def test_file_that_does_not_fit_is_one_clear_error(synthetic_weights):
    (synthetic_weights / "MANIFEST.json").unlink()  # no manifest: nothing says it is a MobileNet file
    path = str(synthetic_weights / SYNTHETIC_WEIGHTS)
    with pytest.raises(WeightsError, match="does not fit backbone vgg16"):
        Extractor.from_options(ExtractOptions("vgg16", path, size=32)).build()
    with pytest.raises(WeightsError, match="does not fit backbone mobilenet alpha=1.0"):
        Extractor.from_options(ExtractOptions("mobilenet", path, size=32)).build()


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="Weights file not found"):
        resolve_weights(get_backbone("vgg16"), str(tmp_path / "nope.h5"))


def test_offline_directory_makes_imagenet_local(synthetic_weights, monkeypatch):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(synthetic_weights))
    resolved = resolve_weights(get_backbone("mobilenet"), "imagenet", alpha=0.25)
    assert resolved.path == synthetic_weights / SYNTHETIC_WEIGHTS and resolved.preprocess == "tf"
    # No local file for alpha 1.0: falls through to Keras's own download (not attempted here).
    assert resolve_weights(get_backbone("mobilenet"), "imagenet").path is None


def test_random_init_is_reproducible():
    first = Extractor.from_options(ExtractOptions("mobilenet", "none", size=32, alpha=0.25)).build()
    second = Extractor.from_options(ExtractOptions("mobilenet", "none", size=32, alpha=0.25)).build()
    assert first.config.config_id == second.config.config_id
    for a, b in zip(first.model.weights, second.model.weights):
        assert (a.numpy() == b.numpy()).all()
