"""Weights resolution: manifests, checksums, the offline directory, mismatches."""
import json
import shutil

import pytest

from extract.backbones import get_backbone
from extract.configure import configure
from extract.weights import WEIGHTS_DIR_ENV, WeightsError, resolve_weights

SMALL = "mobilenet_2_5_128_tf_no_top.h5"


@pytest.fixture
def weights_copy(tmp_path, shared_weights):
    """The 1 MB MobileNet 0.25 file and its manifest entry in a folder the test may edit."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(shared_weights / SMALL, folder / SMALL)
    entries = json.loads((shared_weights / "MANIFEST.json").read_text())
    (folder / "MANIFEST.json").write_text(json.dumps([e for e in entries if e["file"] == SMALL]))
    return folder


def test_manifest_brings_preprocessing_alpha_and_checksum(shared_weights):
    vgg = resolve_weights(get_backbone("vgg16"), str(shared_weights / "vgg16_imagenet_torchvision_notop.h5"))
    assert vgg.preprocess == "torch"  # not Keras's caffe default for VGG16
    small = resolve_weights(get_backbone("mobilenet"), str(shared_weights / SMALL))
    assert small.alpha == 0.25 and small.preprocess == "tf"
    assert small.sha256 == "395ba464e7cd1db71fe163470d17319a27677a17c733d7c79d9a4ff5d936e959"
    forced = resolve_weights(get_backbone("mobilenet"), str(shared_weights / SMALL), preprocess="caffe")
    assert forced.preprocess == "caffe"


def test_checksum_mismatch_is_refused(weights_copy):
    with open(weights_copy / SMALL, "r+b") as handle:
        handle.seek(-100, 2)
        handle.write(b"\xde\xad\xbe\xef" * 4)
    with pytest.raises(WeightsError, match="does not match its MANIFEST.json sha256"):
        resolve_weights(get_backbone("mobilenet"), str(weights_copy / SMALL))


def test_wrong_backbone_per_manifest_is_refused(weights_copy):
    with pytest.raises(WeightsError, match="is for backbone 'mobilenet'.*Received: --backbone vgg16"):
        resolve_weights(get_backbone("vgg16"), str(weights_copy / SMALL))


def test_file_that_does_not_fit_is_one_clear_error(weights_copy):
    (weights_copy / "MANIFEST.json").unlink()  # no manifest: nothing says it is a MobileNet file
    with pytest.raises(WeightsError, match="does not fit backbone vgg16"):
        configure("vgg16", str(weights_copy / SMALL), size=32)
    with pytest.raises(WeightsError, match="does not fit backbone mobilenet alpha=1.0"):
        configure("mobilenet", str(weights_copy / SMALL), size=32)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="Weights file not found"):
        resolve_weights(get_backbone("vgg16"), str(tmp_path / "nope.h5"))


def test_offline_directory_makes_imagenet_local(weights_copy, monkeypatch):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(weights_copy))
    resolved = resolve_weights(get_backbone("mobilenet"), "imagenet", alpha=0.25)
    assert resolved.path == weights_copy / SMALL and resolved.preprocess == "tf"
    # No local file for alpha 1.0: falls through to Keras's own download (not attempted here).
    assert resolve_weights(get_backbone("mobilenet"), "imagenet").path is None


def test_random_init_is_reproducible():
    first = configure("mobilenet", "none", size=32, alpha=0.25)
    second = configure("mobilenet", "none", size=32, alpha=0.25)
    assert first.config.config_id == second.config.config_id
    for a, b in zip(first.model.weights, second.model.weights):
        assert (a.numpy() == b.numpy()).all()
