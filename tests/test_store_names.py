"""Readable configuration names (store.names): parsed, shown, and resolved by `--config`, with views and
several sizes in one store. Configurations are written as records only: no TensorFlow here."""
from __future__ import annotations

import dataclasses

import pytest

from store import ConfigNames, ExtractorConfig, FeatureStore, StoreError, init_store, parse_name, readable_names
from store.config import write_config

FLIP = {"tta": "flip", "flip": True, "scale": 1.0, "dx": 0.0, "dy": 0.0}


def config(backbone="mobilenet_v2", size=224, layer="out_relu", **fields) -> ExtractorConfig:
    return ExtractorConfig(backbone=backbone, weights_sha256=fields.pop("weights_sha256", "ab" * 32),
                           preprocess=fields.pop("preprocess", "tf"), size=size, layer=layer, **fields)


V2 = config()
V2_FLIP = dataclasses.replace(V2, augment=FLIP)
V2_160 = config(size=160)
MOBILE = config("mobilenet", 128, "conv_pw_13_relu", alpha=0.25, weights_sha256="cd" * 32)
MOBILE_FLIP = dataclasses.replace(MOBILE, augment=FLIP)
MOBILE_224 = config("mobilenet", 224, "conv_pw_13_relu", alpha=1.0, weights_sha256="ef" * 32)
VGG = config("vgg16", 150, "block5_pool", preprocess="torch")
VGG_BLOCK4 = dataclasses.replace(VGG, layer="block4_pool")
STORE = [V2, V2_FLIP, V2_160, MOBILE, MOBILE_FLIP, MOBILE_224, VGG, VGG_BLOCK4]


def test_names_show_only_what_distinguishes():
    names = readable_names(STORE)
    assert [names[c.config_id] for c in STORE] == [
        "mobilenet_v2@224", "mobilenet_v2@224+flip", "mobilenet_v2@160", "mobilenet@128", "mobilenet@128+flip",
        "mobilenet@224", "vgg16@150/block5_pool", "vgg16@150/block4_pool"]
    assert readable_names([V2]) == {V2.config_id: "mobilenet_v2@224"}


def test_other_parts_appear_where_they_differ_and_names_stay_unique():
    narrow = dataclasses.replace(MOBILE_224, alpha=0.25, weights_sha256="12" * 32)
    pooled = dataclasses.replace(VGG, pool="avg")
    caffe = dataclasses.replace(VGG, preprocess="caffe")
    names = readable_names([MOBILE_224, narrow, VGG, pooled, caffe])
    assert names[MOBILE_224.config_id] == "mobilenet@224,alpha=1"
    assert names[narrow.config_id] == "mobilenet@224,alpha=0.25"
    assert names[pooled.config_id] == "vgg16@150:avg"
    assert names[VGG.config_id] == "vgg16@150:none,preprocess=torch"
    assert names[caffe.config_id] == "vgg16@150:none,preprocess=caffe"
    seeded = [dataclasses.replace(V2, augment={"view": 0, "seed": s, "flip": True}) for s in (0, 1)]
    twins = readable_names(seeded)
    assert len(set(twins.values())) == 2 and all(n.startswith("mobilenet_v2@224+view0,id=") for n in twins.values())


def test_parse_takes_a_name_apart_and_refuses_what_is_not_one():
    parts = parse_name("vgg16@150/block4_pool:avg+flip,dtype=float32,weights=8b68")
    assert (parts.backbone, parts.size, parts.layer, parts.pool, parts.view) == ("vgg16", 150, "block4_pool", "avg",
                                                                                 "flip")
    assert parts.keyed == {"dtype": "float32", "weights": "8b68"}
    assert parse_name("mobilenet").size is None
    for bad in ("", "VGG16@150", "vgg16@big", "vgg16@150,colour=red", "vgg16@150 /x"):
        with pytest.raises(StoreError):
            parse_name(bad)


@pytest.mark.parametrize("selector, expected", [
    ("mobilenet@128", MOBILE), ("mobilenet@224", MOBILE_224), ("vgg16@150/block4_pool", VGG_BLOCK4),
    ("vgg16/block5_pool", VGG), ("mobilenet_v2@160", V2_160), (V2.config_id, V2), (V2.config_id[:16], V2),
    ("mobilenet@128,alpha=0.25", MOBILE), ("vgg16@150,weights=abab", None)])
def test_config_resolves_names_ids_and_prefixes(selector, expected):
    names = ConfigNames(STORE)
    if expected is None:  # both vgg16 configurations share those weights
        with pytest.raises(StoreError, match="Several configurations match"):
            names.resolve(selector)
        return
    assert names.resolve(selector) == expected


def test_exact_backbone_wins_over_a_prefix():
    names = ConfigNames([V2, MOBILE])
    assert names.resolve("mobilenet") == MOBILE
    assert names.resolve("mobilenet_v2") == V2
    only_v2 = ConfigNames([V2, V2_FLIP])
    with pytest.raises(StoreError, match="No configuration matches 'mobilenet'"):
        only_v2.resolve("mobilenet")  # a backbone name is not an id prefix of mobilenet_v2-...


def test_views_are_never_among_the_choices():
    names = ConfigNames([V2, V2_FLIP])
    assert names.resolve(None) == V2 and names.resolve("mobilenet_v2") == V2
    assert names.resolve("mobilenet_v2@224+flip", views=True) == V2_FLIP
    with pytest.raises(StoreError, match="several configurations: choose one with --config NAME") as error:
        ConfigNames(STORE).resolve(None)
    assert "+flip" not in str(error.value) and "mobilenet_v2@160 (160 px, layer out_relu, pool none)" in str(error.value)
    with pytest.raises(StoreError, match="Several configurations match 'mobilenet_v2'") as error:
        ConfigNames(STORE).resolve("mobilenet_v2")
    assert "+flip" not in str(error.value)


@pytest.mark.parametrize("selector", ["mobilenet_v2@224+flip", V2_FLIP.config_id])
def test_choosing_a_view_gives_one_clear_line(selector):
    with pytest.raises(StoreError) as error:
        ConfigNames([V2, V2_FLIP]).resolve(selector)
    message = str(error.value)
    assert "mobilenet_v2@224+flip is a test-time view of mobilenet_v2@224" in message
    assert "--config mobilenet_v2@224" in message and "--tta" in message and "\n" not in message


def test_the_store_resolves_with_the_same_names(tmp_path):
    layout = init_store(tmp_path / "store")
    for c in STORE:
        write_config(layout, c)
    features = FeatureStore(tmp_path / "store")
    assert features.select("mobilenet@128") == MOBILE
    assert features.names().name(MOBILE_FLIP) == "mobilenet@128+flip"
    assert features.view("mobilenet@128+flip").config == MOBILE_FLIP  # a view is read by name where meant
    with pytest.raises(StoreError, match="is a test-time view of mobilenet@128"):
        features.select(MOBILE_FLIP.config_id)
