"""The one error type the heads stage raises for input it cannot use.

It subclasses ValueError, so callers that already catch the store's and the
extractor's errors (all ValueErrors) catch it too; the CLI prints its message
as one line and exits non-zero.
"""
from __future__ import annotations


class HeadError(ValueError):
    """A kind, parameter, head, store or image set that cannot be used as asked."""


def first_line(error: BaseException) -> str:
    """The message of an error as one line (the CLI's answer to bad input)."""
    text = str(error).strip()
    if isinstance(error, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]  # KeyError quotes its message
    return text.splitlines()[0] if text else type(error).__name__
