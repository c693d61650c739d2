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


def safe_mode_refusal(error: BaseException) -> str | None:
    """The sentence in which Keras safe mode refused a model (a Lambda's code, a file outside the archive),
    or None. Keras wraps it in TypeErrors ("could not be deserialized properly"), so the chain and the
    wrapped messages are searched."""
    seen = error
    while seen is not None:
        for line in str(seen).splitlines():
            if "safe_mode" in line:
                line = line.strip().removeprefix("Exception encountered:").strip()
                return line.split(". ")[0].rstrip(".")
        seen = seen.__cause__ or seen.__context__
    return None
