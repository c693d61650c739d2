"""The records a scan produces and passes between its steps.

They live apart from the steps (folders, table, pattern, splits) so that every step can build
them and `extract.scan` can re-export them without an import cycle.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNLABELLED = "unlabelled"  # the split (and the meaning of label -1) of rows without a label


class ScanError(ValueError):
    """A data folder, or a way of reading its labels, that cannot be used as a dataset."""


@dataclass(frozen=True)
class Note:
    """One line for the user about files that were read in a way worth knowing (left out, merged,
    moved...).

    Parameters
    ----------
    code : str
        Stable for programs and tests (e.g. "hidden", "duplicate").
    count : int
        How many files it is about.
    message : str
        The line, count included.
    examples : tuple of str, optional
        A few of the files.
    """

    code: str
    count: int
    message: str
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        return {"code": self.code, "count": self.count, "message": self.message, "examples": list(self.examples)}


@dataclass(slots=True)  # one per file: no per-object __dict__ (about 100 bytes each at a million files)
class Candidate:
    """A file a source proposes, before its bytes are read.

    `split_source` is the split name as found (folder name, table value); None means the split
    rule decides. `label` None means an unlabelled row. `listed` marks a file named explicitly
    (a table row): it stays an entry even when its content is no image, instead of being skipped
    as a stray non-image file."""

    path: Path | str  # absolute
    rel: str
    label: str | None
    split_source: str | None
    listed: bool = False


@dataclass
class Labelled:
    """What a source found: the files with their labels, the class order, and what it noticed."""

    layout: str
    candidates: list[Candidate]
    classes: list[str]
    notes: list[Note] = field(default_factory=list)
    source: dict = field(default_factory=dict)
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    skipped_examples: list[str] = field(default_factory=list)


@dataclass(slots=True)  # one per file, as Candidate
class ScanEntry:
    path: str  # relative to the data root, POSIX separators
    label: int  # index into Scan.classes; -1 for an unlabelled row
    split: str  # normalised: train | validation | test | unlabelled | <other folder or table name>
    hash: str  # sha256 of the bytes; "" when unreadable
    kind: str | None
    reason: str = ""  # why the file cannot be used; empty when it can
    split_source: str = ""  # the split as found (folder name, table value); "" when the split rule chose it


@dataclass
class Scan:
    root: Path
    layout: str
    classes: list[str]
    entries: list[ScanEntry]
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    name: str = ""
    source: dict = field(default_factory=dict)  # how labels and splits were obtained (JSON-able)
    notes: list[Note] = field(default_factory=list)
    reading: Any = None  # extract.sources.reading.ReadOutcome: files read, known, versions to record

    def usable(self) -> list[ScanEntry]:
        return [e for e in self.entries if not e.reason]

    def split_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(e.split for e in self.usable()).items()))

    def note_lines(self) -> list[str]:
        return [note.message for note in self.notes]
