"""Labels from folders: DATA/<split>/<class>/* and DATA/<class>/*, as in Keras and retrain.py.

A folder of loose images is never made a class behind the user's back: in DATA/train/<class>/*
beside DATA/test1/*.jpg, or DATA/<class>/* beside DATA/test/*.jpg, the loose folder is named in a
note and left out, or read as unlabelled rows when asked (for `heads predict` to reuse). A folder
counts as split-like by its name (train, val, dev, test, test1, holdout, unlabelled...), see
extract.sources.splits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from extract.sources.files import loose_files, looks_like_image, visible_dirs, walk_files, walk_names
from extract.sources.records import Candidate, Labelled, Note
from extract.sources.report import examples_text, plural
from extract.sources.splits import normalise_split, split_like


@dataclass
class LooseGroup:
    """Files directly in a folder that has no class folders to put them in ("" = the data folder)."""

    folder: str
    files: list[Path] | list[str]
    images: int = 0
    rels: list[str] | None = None  # the files' paths relative to the data root, when the walk made them


@dataclass
class FolderTree:
    layout: str  # splits | classes
    class_dirs: list[tuple[str | None, Path]]  # (split folder name or None, class folder)
    loose: list[LooseGroup] = field(default_factory=list)
    hidden: int = 0


def _nested(folder: Path) -> bool:
    return bool(visible_dirs(folder))


def detect_layout(root: Path) -> str:
    """splits when a split-like folder holds class folders, or when every top-level folder is
    split-like (Kaggle's train/ + test1/); classes otherwise."""
    top = visible_dirs(root)
    if any(split_like(d.name) and _nested(d) for d in top) or (top and all(split_like(d.name) for d in top)):
        return "splits"
    return "classes"


def read_tree(root: Path, layout: str) -> FolderTree:
    """The class folders and the loose files of a splits or classes layout. In a detected classes
    layout a split-like folder is loose, not a class; a layout the user forces is taken as said."""
    detected = layout == "auto"
    layout = detect_layout(root) if detected else layout
    tree = FolderTree(layout, [])
    root_files, tree.hidden = loose_files(root)
    groups = [LooseGroup("", root_files)]
    for top in visible_dirs(root):
        if layout == "splits":
            tree.class_dirs.extend((top.name, c) for c in visible_dirs(top))
            files, hidden = loose_files(top)
            tree.hidden += hidden
            groups.append(LooseGroup(top.name, files))
        elif detected and split_like(top.name):
            files, hidden = walk_files(top)
            tree.hidden += hidden
            groups.append(LooseGroup(top.name, files))
        else:
            tree.class_dirs.append((None, top))
    for group in groups:
        group.images = sum(looks_like_image(path) for path in group.files)
    tree.loose = [g for g in groups if g.files]
    return tree


def folder_labels(root: Path, tree: FolderTree, unlabelled: bool) -> Labelled:
    """Candidates labelled by their class folder; loose files noted, or read as unlabelled."""
    classes = sorted({c.name for _, c in tree.class_dirs})
    found = Labelled(layout=tree.layout, candidates=[], classes=classes, skipped_hidden=tree.hidden)
    for split, class_dir in tree.class_dirs:
        paths, rels, hidden = walk_names(class_dir, class_dir.relative_to(root).as_posix() + "/")
        found.skipped_hidden += hidden
        name = class_dir.name
        found.candidates.extend([Candidate(p, rel, name, split) for p, rel in zip(paths, rels)])
    split_names = sorted({s for s, _ in tree.class_dirs if s is not None})
    found.source = {"labels": {"from": "folders"}}
    found.candidates.extend(loose_candidates(root, tree.loose, found, unlabelled))
    found.notes.extend(merged_split_notes(split_names))
    return found


def loose_candidates(root: Path, groups: list[LooseGroup], found: Labelled, unlabelled: bool,
                     why: str = "outside any class folder") -> list[Candidate]:
    """Unlabelled candidates of the loose groups when asked; otherwise a note per group (its images
    are left out, its other files counted as skipped non-images)."""
    candidates = []
    for group in groups:
        where = f"{group.folder}/" if group.folder else "the data folder"
        rels = group.rels if group.rels is not None else [p.relative_to(root).as_posix() for p in group.files]
        if unlabelled:
            candidates.extend(Candidate(p, rel, None, group.folder) for p, rel in zip(group.files, rels))
            if group.images:
                found.notes.append(Note("folders.unlabelled", group.images,
                                        f"{plural(group.images, 'loose image')} in {where} read as unlabelled rows"))
            continue
        found.skipped_non_image += len(group.files) - group.images
        if group.images:
            examples = [rel for p, rel in zip(group.files, rels) if looks_like_image(p)][:3]
            found.notes.append(Note(
                "folders.loose", group.images,
                f"{plural(group.images, 'image')} in {where} {why}, not used "
                f"(unlabelled=True reads them as unlabelled rows), {examples_text(examples)}", tuple(examples)))
    found.source["loose_folders"] = {g.folder: g.images for g in groups}
    return candidates


def merged_split_notes(split_names: list[str]) -> list[Note]:
    """One note per split that several folders feed (val/ and validation/ both present)."""
    by_split: dict[str, list[str]] = {}
    for name in split_names:
        by_split.setdefault(normalise_split(name), []).append(name)
    return [Note("folders.merged_splits", len(names), f"{len(names)} folders read as split {split}: "
                 f"{', '.join(n + '/' for n in names)}", tuple(names))
            for split, names in sorted(by_split.items()) if len(names) > 1]


def unlabelled_candidates(root: Path) -> Labelled:
    """The whole data folder as unlabelled rows; the split source is the top-level folder a file is in."""
    files, hidden = walk_files(root)
    candidates = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        folder = rel.split("/", 1)[0] if "/" in rel else ""
        candidates.append(Candidate(path, rel, None, folder))
    return Labelled(layout="unlabelled", candidates=candidates, classes=[], skipped_hidden=hidden,
                    source={"labels": {"from": "none"}})
