"""The one error type of extraction's refusals, so callers (the CLIs, heads) catch them in one place.

Each refusal is one line naming what was received and what is allowed. Errors raised by a bug are
not ExtractErrors and are not dressed up as user errors.
"""
from __future__ import annotations


class ExtractError(ValueError):
    """A refused option, weights file, backbone, engine request or computed result."""


class OptionError(ExtractError):
    """An option value that is not allowed."""
