"""Text safe to show: file names, labels and folder names come from disk and may be hostile.

A file named `cat\\x1b[2J\\x1b[31mERROR.jpg` would clear the terminal and print a fake error if its name
reached the screen raw, and one named `[bold]x.jpg` would be taken for rich markup and lose its brackets.
So every name shown goes through here:

- `printable(name)`   control characters (C0, DEL, C1), bidirectional overrides (which reorder what is
                      shown) and the lone surrogates of an undecodable name become visible escapes
                      (`\\x1b`, `\\u202e`, `\\udcff`); ordinary text, accents and emoji are unchanged.
- `shown(name)`       the same, with rich markup escaped: for a name put inside a rich string or table cell.
- `SafeConsole`       a rich Console that applies `printable_text` (newlines and tabs kept) to every string
                      it renders (messages, table cells, titles): a name that missed `shown` still cannot
                      move the cursor or change colours.

JSON output needs none of this (json.dumps escapes control characters itself); HTML pages escape with
`html.escape(printable(...))` (heads.report.html).
"""
from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI on some terminals), the bidirectional marks,
# embeddings, overrides and isolates, and lone surrogates (a name that is not valid UTF-8, read by Python).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(name: object) -> str:
    """`name` as one line of plain, visible characters (every control character escaped, newlines too)."""
    return _UNSAFE.sub(_escape_one, str(name))


def printable_text(text: object) -> str:
    """A message of several lines: like `printable`, but newlines and tabs are kept."""
    return _UNSAFE_IN_TEXT.sub(_escape_one, str(text))


def shown(name: object) -> str:
    """`printable(name)` with rich markup escaped: a name inside a rich string or table cell."""
    return escape(printable(name))


class SafeConsole(Console):
    """A rich Console whose every rendered string is passed through `printable_text` first."""

    def render_str(self, text: str, **kwargs):  # noqa: D102 (rich's own)
        return super().render_str(printable_text(text), **kwargs)
