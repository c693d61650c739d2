"""Readable names of a store's configurations (no TensorFlow); store.resolve chooses among them by name.

A configuration's id (`mobilenet-7f213ca172db`) says nothing to a person; its readable name says
what distinguishes it among the configurations of its store:

    backbone@size [/layer] [:pool] [+view] [,key=value ...]

`backbone@size` is always there; a test-time or augmentation view always shows as `+flip`,
`+zoom-top-left`, `+view3`; every other part (the layer, the pooling, then alpha, weights,
preprocess, resize, dtype, compute) appears only when another configuration of the store with
the same backbone and size differs in it, in that order, until the name is unique:
`mobilenet_v2@224`, `vgg16@150/block4_pool`, `mobilenet@128+flip`, `mobilenet@224,alpha=0.25`.
Names therefore depend on what the store holds (adding a configuration may lengthen a name);
a head records ids, and names are for people: shown by every command, accepted by `--config`.

`--config` resolution (ids, names, partial names, id prefixes; views never chosen by default) is
store.resolve.ConfigNames.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from store.config import ExtractorConfig
from store.errors import StoreError

# The parts after backbone@size, in the order they are added to a name (and written in it).
OPTIONAL_PARTS = ("layer", "pool", "alpha", "weights", "preprocess", "resize", "dtype", "compute")
KEYED_PARTS = OPTIONAL_PARTS[2:]  # written `,key=value`
_NAME = re.compile(
    r"^(?P<backbone>[a-z][a-z0-9_]*)(?:@(?P<size>\d+))?(?:/(?P<layer>[^:+,@/]+))?(?::(?P<pool>[a-z]+))?"
    r"(?:\+(?P<view>[a-z0-9-]+))?(?P<keyed>(?:,[a-z]+=[^,]+)*)$")


def view_name(augment: dict | None) -> str | None:
    """The `+view` part of a configuration's name.

    Parameters
    ----------
    augment : dict or None
        The configuration's `augment` field.

    Returns
    -------
    str or None
        A test-time view's name (`flip`, `zoom-top-left`), `view<k>` for an augmented view, None for the plain image.
    """
    if not augment:
        return None
    if "tta" in augment:
        return str(augment["tta"])
    return f"view{augment.get('view', '')}"


def _weights_part(weights_sha256: str) -> str:
    if weights_sha256.startswith("random-init"):
        return "random"
    return weights_sha256.split("-")[-1][:8]


def part_value(config: ExtractorConfig, part: str) -> str | None:
    """A configuration's value of one name part, as a name writes it.

    Parameters
    ----------
    config : ExtractorConfig
        The configuration.
    part : str
        backbone, size, view, id, or one of OPTIONAL_PARTS.

    Returns
    -------
    str or None
        The value as written in a name; None when the configuration has none (no view, no alpha).
    """
    if part == "backbone":
        return config.backbone
    if part == "size":
        return str(config.size)
    if part == "view":
        return view_name(config.augment)
    if part == "alpha":
        return None if config.alpha is None else f"{config.alpha:g}"
    if part == "weights":
        return _weights_part(config.weights_sha256)
    if part == "id":
        return config.config_id.rsplit("-", 1)[-1]
    return str(getattr(config, part))


@dataclass(frozen=True)
class NameParts:
    """A readable name taken apart (see the module docstring); None: the part was not given."""

    backbone: str
    size: int | None = None
    layer: str | None = None
    pool: str | None = None
    view: str | None = None
    keyed: dict[str, str] = field(default_factory=dict)  # alpha, weights, ..., and id (the collision suffix)

    def matches(self, config: ExtractorConfig) -> bool:
        """Whether every part given equals the configuration's; no view given means the plain image.

        Parameters
        ----------
        config : ExtractorConfig
            A configuration of the store.

        Returns
        -------
        bool
            True when the backbone and view match and every other part given does (hashes by prefix).
        """
        if config.backbone != self.backbone or view_name(config.augment) != self.view:
            return False
        if self.size is not None and config.size != self.size:
            return False
        given = {"layer": self.layer, "pool": self.pool, **self.keyed}
        for part, value in given.items():
            if value is None:
                continue
            actual = part_value(config, part)
            if part in ("weights", "id"):  # hash prefixes
                if actual is None or not actual.startswith(value):
                    return False
            elif part == "alpha":
                if actual is None or float(actual) != _number(value, "alpha"):
                    return False
            elif actual != value:
                return False
        return True


def _number(text: str, part: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise StoreError(f"The {part} part of a configuration name is a number. Received: {part}={text}") from None


def parse_name(text: str) -> NameParts:
    """Take a readable (or partial) name apart.

    Parameters
    ----------
    text : str
        A name such as `vgg16@150/block4_pool+flip,dtype=float32`, or part of one (`vgg16`, `mobilenet@128`).

    Returns
    -------
    NameParts
        The parts given (the others None).

    Raises
    ------
    StoreError
        Text that is not a name, or a `key=value` part with an unknown key.
    """
    match = _NAME.match(text or "")
    if not match:
        raise StoreError(f"A configuration name reads backbone@size[/layer][:pool][+view][,key=value...], e.g. "
                         f"mobilenet_v2@224 or vgg16@150/block4_pool. Received: {text!r}")
    keyed = {}
    for item in filter(None, match["keyed"].split(",")):
        key, value = item.split("=", 1)
        if key not in (*KEYED_PARTS, "id"):
            raise StoreError(f"Unknown part {key!r} in configuration name {text!r}. Allowed: "
                             f"{', '.join((*KEYED_PARTS, 'id'))}")
        keyed[key] = value
    return NameParts(match["backbone"], int(match["size"]) if match["size"] else None, match["layer"],
                     match["pool"], match["view"], keyed)


def _format(config: ExtractorConfig, shown: Sequence[str]) -> str:
    name = f"{config.backbone}@{config.size}"
    if "layer" in shown:
        name += f"/{config.layer}"
    if "pool" in shown:
        name += f":{config.pool}"
    if view_name(config.augment):
        name += f"+{view_name(config.augment)}"
    for part in (*KEYED_PARTS, "id"):
        if part in shown:
            name += f",{part}={part_value(config, part)}"
    return name


def readable_names(configs: Sequence[ExtractorConfig]) -> dict[str, str]:
    """The readable name of each configuration of one store (see the module docstring).

    Parameters
    ----------
    configs : sequence of ExtractorConfig
        Every configuration of the store (a name says what distinguishes it among these).

    Returns
    -------
    dict
        Configuration id -> readable name, each name unique.
    """
    names = {}
    for config in configs:
        others = [c for c in configs if c.config_id != config.config_id and c.backbone == config.backbone
                  and c.size == config.size]
        shown = []
        for part in OPTIONAL_PARTS:
            if not others:
                break
            mine = part_value(config, part)
            if any(part_value(other, part) != mine for other in others):
                shown.append(part)
                others = [other for other in others if part_value(other, part) == mine]
        names[config.config_id] = _format(config, shown)
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    for config in configs:  # the same in every part a name shows (e.g. two augmentation seeds): the id decides
        if counts[names[config.config_id]] > 1:
            names[config.config_id] += f",id={part_value(config, 'id')}"
    return names


def describe(config: ExtractorConfig, name: str | None = None) -> str:
    """One configuration for a message: its name, then size, layer, pool, alpha and view spelt out.

    Parameters
    ----------
    config : ExtractorConfig
        The configuration.
    name : str, optional
        Its readable name in its store; `backbone@size[+view]` when not given.

    Returns
    -------
    str
        E.g. `mobilenet@128 (128 px, layer conv_pw_13_relu, pool none, alpha 0.25)`.
    """
    view = view_name(config.augment)
    what = "test-time view" if config.augment and "tta" in config.augment else "augmented view"
    details = [f"{config.size} px", f"layer {config.layer}", f"pool {config.pool}"]
    details += [f"alpha {config.alpha:g}"] if config.alpha is not None else []
    details += [f"{what} {view}"] if view else []
    return f"{name or _format(config, ())} ({', '.join(details)})"
