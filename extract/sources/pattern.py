"""Labels from file names: a regular expression with one group, searched in each file's name.

The Kaggle Dogs vs. Cats download names its labels in the file (`train/cat.0.jpg`), as fastai's
`from_name_re` reads them. Split-like top-level folders (train/, val/, test1/...) give the split;
other files get the split rule. A file whose name does not match is counted in a note and left
out; a folder where no name matches at all (Kaggle's unlabelled test1/) is a folder of loose
images: noted, or read as unlabelled rows when asked.
"""
from __future__ import annotations

import re
from pathlib import Path

from extract.sources.files import loose_names, looks_like_image, visible_dirs, walk_names
from extract.sources.folders import LooseGroup, loose_candidates
from extract.sources.records import Candidate, Labelled, Note, ScanError
from extract.sources.report import examples_text, plural
from extract.sources.splits import split_like


def compile_pattern(text: str) -> re.Pattern:
    try:
        pattern = re.compile(text)
    except re.error as error:
        raise ScanError(f"label_pattern is not a valid regular expression ({error}). Received: {text!r}") from None
    if pattern.groups != 1:
        raise ScanError(f"label_pattern needs exactly one group, the label (e.g. ^(cat|dog)\\.); it has "
                        f"{pattern.groups}. Received: {text!r}")
    return pattern


def _groups(root: Path) -> tuple[list[tuple[LooseGroup, str | None]], int]:
    """(files of one folder, its split source or None for the split rule), and the hidden count.
    Split-like top-level folders are splits; loose files and other folders take the rule. The files
    are plain strings from bulk walks (no Path object per file)."""
    paths, rels, hidden = loose_names(root)
    groups: list[tuple[LooseGroup, str | None]] = [(LooseGroup("", paths, rels=rels), None)]
    for top in visible_dirs(root):
        paths, rels, more = walk_names(top, top.name + "/")
        hidden += more
        groups.append((LooseGroup(top.name, paths, rels=rels), top.name if split_like(top.name) else None))
    return [(g, s) for g, s in groups if g.files], hidden


def pattern_labels(root: Path, text: str, unlabelled: bool) -> Labelled:
    pattern = compile_pattern(text)
    groups, hidden = _groups(root)
    found = Labelled(layout="pattern", candidates=[], classes=[], skipped_hidden=hidden,
                     source={"labels": {"from": "pattern", "pattern": text}})
    unmatched: list[str] = []
    no_match_groups = []
    search = pattern.search
    for group, split in groups:
        labels = [_label(search(rel.rpartition("/")[2])) for rel in group.rels]
        if not any(labels):
            group.images = sum(looks_like_image(path) for path in group.files)
            no_match_groups.append(group)
            continue
        found.candidates.extend(Candidate(path, rel, label, split)
                                for path, rel, label in zip(group.files, group.rels, labels) if label)
        for path, rel, label in zip(group.files, group.rels, labels):
            if label:
                continue
            if looks_like_image(path):
                unmatched.append(rel)
            else:
                found.skipped_non_image += 1
                if len(found.skipped_examples) < 5:
                    found.skipped_examples.append(rel)
    found.candidates.extend(loose_candidates(root, no_match_groups, found, unlabelled,
                                             why="where no file name matches label_pattern"))
    found.classes = sorted({c.label for c in found.candidates if c.label is not None})
    if unmatched:
        found.notes.append(Note("pattern.unmatched", len(unmatched),
                                f"{plural(len(unmatched), 'image')} whose name does not match label_pattern, "
                                f"not used, {examples_text(unmatched[:3])}", tuple(unmatched[:3])))
    return found


def _label(match: re.Match | None) -> str | None:
    return match.group(1) if match and match.group(1) else None
