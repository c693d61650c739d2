"""The notes a scan gives the user: one line each, with its count and a few examples.

Kept in one place so every source words its lines the same way ("3 files in labels.csv not found
on disk, e.g. a.jpg") and a caller can print them as they come.
"""
from __future__ import annotations

from collections import Counter

from extract.sources.records import Note, ScanEntry

MAX_NAMED = 10


def plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith(("s", "sh", "ch", "x")) else f"{count} {noun}s"


def examples_text(examples: list[str] | tuple[str, ...]) -> str:
    return f"e.g. {', '.join(examples)}" if examples else ""


def names_text(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def coverage_notes(entries: list[ScanEntry], classes: list[str]) -> list[Note]:
    """Classes a head cannot learn (no train image) or cannot be scored on (no validation image, when
    the dataset has a validation split): named here once instead of a library warning later."""
    present: dict[str, Counter] = {"train": Counter(), "validation": Counter()}
    for entry in entries:
        if not entry.reason and entry.label >= 0 and entry.split in present:
            present[entry.split][entry.label] += 1
    notes = []
    for split in ("train", "validation"):
        if split == "validation" and not present[split]:
            continue  # no validation split at all: nothing to name per class
        missing = [name for label, name in enumerate(classes) if not present[split][label]]
        if missing:
            notes.append(Note(f"classes.no_{split}", len(missing),
                              f"{plural(len(missing), 'class')} without a {split} image: {names_text(missing)}",
                              tuple(missing[:MAX_NAMED])))
    return notes


def moved_note(moved: list[str], class_names: list[str]) -> list[Note]:
    if not moved:
        return []
    return [Note("splits.moved", len(moved),
                 f"{plural(len(moved), 'file')} moved off the split rule so that small classes keep a train "
                 f"(and validation, test) image: {names_text(class_names)}", tuple(moved[:3]))]


def skipped_note(count: int, examples: list[str]) -> list[Note]:
    if not count:
        return []
    return [Note("files.non_image", count,
                 f"{plural(count, 'file')} skipped as not meant to be images, {examples_text(examples[:3])}",
                 tuple(examples[:3]))]
