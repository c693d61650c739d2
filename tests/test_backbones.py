"""Every registry entry builds with random weights at a small size, and its block ends exist."""
import pytest

from extract.backbones import BACKBONES, BackboneError, get_backbone


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_registry_entry_builds_and_names_real_layers(name):
    spec = BACKBONES[name]
    base = spec.build(max(spec.min_size, 32), alpha=0.25 if spec.has_alpha else None)
    names = [layer.name for layer in base.layers]
    ends = [end for _, end in spec.blocks]
    assert all(end in names for end in ends), [e for e in ends if e not in names]
    positions = [names.index(end) for end in ends]
    assert positions == sorted(positions), "blocks must be listed bottom to top"
    assert spec.default_layer == base.layers[-1].name
    assert spec.preprocess in ("caffe", "tf", "torch", "none")


def test_unknown_backbone_lists_known_ones():
    with pytest.raises(BackboneError, match="Known: vgg16, vgg19"):
        get_backbone("vgg17")
