"""The one resolver of `--config` among a store's configurations (no TensorFlow).

`--config` takes an id, a readable name (store.names), a partial name (`vgg16`, `mobilenet@128`,
`vgg16/block4_pool`: the parts given must match, a missing view means the plain image), or an
id prefix such as `mobilenet-7f2`. A name's backbone is matched exactly, so `mobilenet` never
matches `mobilenet_v2`. Views are never among the choices: naming one where a configuration to
fit on is wanted gets one line saying what it is and what to use instead.
"""
from __future__ import annotations

from typing import Sequence

from store.config import ExtractorConfig
from store.errors import StoreError
from store.names import describe, parse_name, readable_names


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
    same = ("backbone", "weights_sha256", "preprocess", "size", "resize", "alpha", "layer", "pool", "dtype", "compute")
    return bool(view.augment) and not plain.augment and all(getattr(plain, f) == getattr(view, f) for f in same)
