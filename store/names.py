"""Readable names of a store's configurations, and the one resolver of `--config` (no TensorFlow).

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

`--config` takes an id, a readable name, a partial name (`vgg16`, `mobilenet@128`,
`vgg16/block4_pool`: the parts given must match, a missing view means the plain image), or an
id prefix such as `mobilenet-7f2`. A name's backbone is matched exactly, so `mobilenet` never
matches `mobilenet_v2`. Views are never among the choices: naming one where a configuration to
fit on is wanted gets one line saying what it is and what to use instead.
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
    """The `+view` part of a configuration: a test-time view's name, `view<k>` for an augmented view."""
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
    """A configuration's value of one name part, as a name writes it (None: the part is absent)."""
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
        """Whether every part given equals the configuration's; no view given means the plain image."""
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
    """Take a readable (or partial) name apart; refuses text that is not one."""
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
    """config id -> readable name, for the configurations of one store (see the module docstring)."""
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
    """One configuration for a message: its name (by default `backbone@size[+view]`), then size, layer, pool
    and view spelt out."""
    view = view_name(config.augment)
    what = "test-time view" if config.augment and "tta" in config.augment else "augmented view"
    details = [f"{config.size} px", f"layer {config.layer}", f"pool {config.pool}"]
    details += [f"alpha {config.alpha:g}"] if config.alpha is not None else []
    details += [f"{what} {view}"] if view else []
    return f"{name or _format(config, ())} ({', '.join(details)})"


class ConfigNames:
    """The readable names of one store's configurations, and `--config` resolution among them.

    Parameters
    ----------
    configs : sequence of ExtractorConfig
        Every configuration of the store (views included: they are named, never chosen by default).
    """

    def __init__(self, configs: Sequence[ExtractorConfig]):
        self.configs = list(configs)
        self._names = readable_names(self.configs)
        self._by_id = {c.config_id: c for c in self.configs}

    def name(self, config: ExtractorConfig | str) -> str:
        """The readable name of a configuration (or of its id).

        Parameters
        ----------
        config : ExtractorConfig or str
            A configuration of the store, or its id.

        Returns
        -------
        str
            Its name; the id itself when the store does not hold it (a head's removed configuration).
        """
        config_id = config if isinstance(config, str) else config.config_id
        return self._names.get(config_id, config_id)

    def describe(self, config: ExtractorConfig | str) -> str:
        """`name (size, layer, pool[, alpha][, view])` for a message; the id for one the store lacks.

        Parameters
        ----------
        config : ExtractorConfig or str
            A configuration of the store, or its id.

        Returns
        -------
        str
            One line naming the configuration and what distinguishes it.
        """
        config = self._by_id.get(config, config) if isinstance(config, str) else config
        return config if isinstance(config, str) else describe(config, self.name(config))

    @property
    def choices(self) -> list[ExtractorConfig]:
        """The configurations `--config` may choose: every one that is not a view."""
        return [c for c in self.configs if not c.augment]

    def _listing(self, configs: Sequence[ExtractorConfig]) -> str:
        return "; ".join(self.describe(c) for c in configs) or "none"

    def _matches(self, selector: str) -> list[ExtractorConfig]:
        exact = [c for c in self.configs if selector in (c.config_id, self._names[c.config_id])]
        if exact:
            return exact
        try:
            parts = parse_name(selector)
        except StoreError:
            parts = None
        named = [c for c in self.configs if parts.matches(c)] if parts is not None else []
        if named or (parts is not None and any(c.backbone == parts.backbone for c in self.configs)):
            return named  # an exact backbone name wins over an id prefix (mobilenet is not mobilenet_v2)
        return [c for c in self.configs if "-" in selector and c.config_id.startswith(selector)]

    def resolve(self, selector: str | None = None, views: bool = False, option: str = "--config",
                where: str = "The store") -> ExtractorConfig:
        """The one configuration a selector names (see the module docstring).

        Parameters
        ----------
        selector : str or None
            An id, readable name, partial name or id prefix; None: the only configuration that is not a view (with
            `views`, also the only configuration of a store that holds one view alone).
        views : bool
            Whether a view may be chosen (by its id or its name, never by default): True where the view itself
            is meant (removing it, listing it); False where a configuration to fit or score on is meant.
        option : str
            The option the selector came from, as the messages name it.
        where : str
            The store, as the messages begin with it ("The store", "Store cache").

        Returns
        -------
        ExtractorConfig
            The configuration chosen.

        Raises
        ------
        StoreError
            No configuration, several, or a view where views are not taken: one line listing the choices with
            their size, layer and view.
        """
        if not self.configs:
            raise StoreError(f"{where} holds no configurations yet (`extract run` makes one).")
        if selector is None:
            # the only configuration that is not a view; where a view is meant, a store holding one alone
            matches = self.configs if views and len(self.configs) == 1 else self.choices
            if len(matches) == 1:
                return matches[0]
            if not matches:
                raise StoreError(f"{where} holds views only, no configuration to choose: "
                                 f"{self._listing(self.configs)}")
            raise StoreError(f"{where} holds several configurations: choose one with {option} "
                             f"NAME. Choices: {self._listing(matches)}")
        matches = self._matches(str(selector))
        if not views:
            plain = [c for c in matches if not c.augment]
            if not plain and matches:
                raise StoreError(self._view_refusal(matches[0], option))
            matches = plain
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StoreError(f"No configuration matches {selector!r}. Choices: "
                             f"{self._listing(self.configs if views else self.choices)}")
        raise StoreError(f"Several configurations match {selector!r}; choose one with {option} NAME. Choices: "
                         f"{self._listing(matches)}")

    def _view_refusal(self, view: ExtractorConfig, option: str) -> str:
        plain = next((c for c in self.choices if is_view_of(view, c)), None)
        base = self.name(plain) if plain is not None else f"{view.backbone}@{view.size}"
        if "tta" in (view.augment or {}):
            return (f"{self.name(view)} is a test-time view of {base}, not a configuration to fit or score on: "
                    f"choose {option} {base}, and average over its views with --tta (heads eval/predict). "
                    f"Received: {option} {self.name(view)}")
        return (f"{self.name(view)} is an augmented view of {base} (cached for heads finetune), not a configuration "
                f"to fit or score on: choose {option} {base}. Received: {option} {self.name(view)}")

    def resolve_all(self, selectors: Sequence[str], views: bool = False, option: str = "--config",
                    where: str = "The store") -> list[ExtractorConfig]:
        """`resolve` of each selector, in order (see `resolve`).

        Parameters
        ----------
        selectors : sequence of str
            One selector per configuration wanted.
        views, option, where
            As for `resolve`.

        Returns
        -------
        list of ExtractorConfig
            One configuration per selector.
        """
        return [self.resolve(s, views=views, option=option, where=where) for s in selectors]


def is_view_of(view: ExtractorConfig, plain: ExtractorConfig) -> bool:
    """Whether `view` is a (test-time or augmented) view of `plain`: the same configuration but for the view.

    Parameters
    ----------
    view, plain : ExtractorConfig
        Two configurations of a store.

    Returns
    -------
    bool
        True when `view` has a view and `plain` has none, and every other identity field agrees.
    """
    return bool(view.augment) and not plain.augment and all(getattr(plain, name) == getattr(view, name) for name in ("backbone", "weights_sha256", "preprocess",
                                                                        "size", "resize", "alpha", "layer", "pool",
                                                                        "dtype", "compute"))
