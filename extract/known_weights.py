"""Weights files this tool knows by their checksum, so that one without a MANIFEST.json still gets the
preprocessing (and input size) it was trained with.

Two sources of truth, each the only checksum its publisher gives:
- the files of `../shared/weights` (their MANIFEST.json's sha256): the torchvision VGG16 converted to
  the Keras layout needs 'torch' preprocessing, where Keras's own VGG16 needs 'caffe';
- Keras's own no-top ImageNet files, by the md5 `keras.applications` checks them with (Keras hashes
  no MobileNet file: those are known here only through the first list).
A file matched by neither gets the backbone's preprocessing, and the run says so in one line.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KnownWeights:
    """What a known weights file is: its backbone, width, preprocessing, trained input size and origin."""

    backbone: str
    preprocess: str
    origin: str
    default_size: int | None = None
    alpha: float | None = None


BY_SHA256 = {
    "8b6877c6079bef72a9b272c98c118772afe10b2a974b65f1d1dc7bb07b7e4d4d": KnownWeights(
        "vgg16", "torch", "torchvision VGG16 ImageNet weights (vgg16-397923af) in the Keras no-top layout"),
    "ae4e50beb0eca359853b053c48fbcf2401902451edfa03c0561853ed0d64228d": KnownWeights(
        "mobilenet_v2", "tf", "MobileNetV2 1.0 224 (Coral tf2_mobilenet_v2_1.0_224, dequantized)", 224, 1.0),
    "dbc87c14543dca7749ae2b7dedb682568b94c0bbea24bc85495868403f5c69f1": KnownWeights(
        "mobilenet", "tf", "MobileNet 1.0 224 (Coral mobilenet_v1_1.0_224, dequantized)", 224, 1.0),
    "395ba464e7cd1db71fe163470d17319a27677a17c733d7c79d9a4ff5d936e959": KnownWeights(
        "mobilenet", "tf", "MobileNet 0.25 128 (Coral mobilenet_v1_0.25_128, dequantized)", 128, 0.25),
}

# keras.applications' file_hash of each no-top ImageNet file (md5: Keras's own check).
BY_KERAS_MD5 = {
    "6d6bbae143d832006294945121d1f1fc": KnownWeights("vgg16", "caffe", "Keras's VGG16 no-top file", 224),
    "253f8cb515780f3b799900260a226db6": KnownWeights("vgg19", "caffe", "Keras's VGG19 no-top file", 224),
    "4d473c1dd8becc155b73f8504c6f6626": KnownWeights("resnet50", "caffe", "Keras's ResNet50 no-top file", 224),
    "bcbd6486424b2319ff4ef7d526e38f63": KnownWeights("inception_v3", "tf", "Keras's InceptionV3 no-top file", 299),
    "b0042744bf5b25fce3cb969f33bebb97": KnownWeights("xception", "tf", "Keras's Xception no-top file", 299),
    "30ee3e1110167f948a6b9946edeeb738": KnownWeights("densenet121", "torch", "Keras's DenseNet121 no-top file",
                                                     224),
    "50bc09e76180e00e4465e1a485ddc09d": KnownWeights("efficientnet_b0", "none",
                                                     "Keras's EfficientNetB0 no-top file", 224),
}


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identify(path: str | Path, sha256: str) -> KnownWeights | None:
    """The known file with this content, if any.

    Parameters
    ----------
    path : str or Path
        The weights file (read again for Keras's md5 only when its sha256 is not known).
    sha256 : str
        The file's sha256, already computed.

    Returns
    -------
    KnownWeights or None
        What the file is, or None for a file this tool does not know.
    """
    known = BY_SHA256.get(sha256)
    return known if known is not None else BY_KERAS_MD5.get(_md5(Path(path)))
