"""Scanning a data folder into an index of (path, label, split, split as found, content hash).

Data arrives in many shapes; each source in extract.sources reads one of them:
  DATA/<split>/<class>/*, DATA/<class>/*   labels from folders (sources.folders)
  DATA/* + labels.csv                      labels from a table (sources.table, sources.table_labels)
  DATA/cat.0.jpg ...                       labels from file names (sources.pattern)
  DATA/*, unlabelled                       rows without labels, for prediction
This module runs the steps every source shares: read and hash the files (images recognised by
their first bytes), split the files nobody gave a split to (sources.splits), collect the notes
for the user, and refuse a dataset that cannot train a head, in one line.
"""
from __future__ import annotations

from pathlib import Path

from extract.sources.files import (BAD_NAME_REASON, IMAGE_EXTENSIONS, content_hash, escaped_name, meant_as_image,
                                   name_encodable, noting_walks, sniff)
from extract.sources.folders import detect_layout, folder_labels, read_tree, unlabelled_candidates
from extract.sources.label_checks import label_notes
from extract.sources.options import DataOptions
from extract.sources.pattern import pattern_labels
from extract.sources.reading import ReadOutcome, ReadRules, read_files
from extract.sources.records import UNLABELLED, Labelled, Note, Scan, ScanEntry, ScanError
from extract.sources.report import coverage_notes, moved_note, plural, skipped_note
from extract.sources.splits import SPLIT_RULE, RuleResult, apply_rule, normalise_split, split_by_name
from extract.sources.table_labels import table_labels

__all__ = ["DataOptions", "IMAGE_EXTENSIONS", "Note", "ReadRules", "Scan", "ScanEntry", "ScanError", "content_hash",
           "detect_layout", "scan_dataset", "sniff", "split_by_name"]


def scan_dataset(root: str | Path, options: DataOptions | None = None, *, workers: int = 8,
                 rules: ReadRules | None = None, **legacy) -> Scan:
    """Scan `root` as `options` say; keyword options (`val_fraction=0.2, layout="auto"`, any
    DataOptions field) are applied on top, so earlier calls keep working.

    Parameters
    ----------
    root
        The data folder.
    options
        How labels and splits are read (DataOptions).
    workers
        Threads reading the files the stat cache does not answer for.
    rules
        How files are read (extract.sources.reading.ReadRules: size limit, stat cache, rehash);
        None reads every file with the default limit.
    **legacy
        DataOptions fields given as keywords, applied on top of `options`.

    Returns
    -------
    Scan
        The entries, notes and counts; `scan.reading` says how many files were read.
    """
    root = Path(root)
    if not root.is_dir():
        raise ScanError(f"Data folder not found. Received: {root}")
    if options is not None and not isinstance(options, DataOptions):
        raise ScanError(f"options must be a DataOptions. Received: {type(options).__name__}")
    options = DataOptions.from_kwargs(options, legacy).checked(root)
    with noting_walks(root) as walked:
        found = _labelled(root, options)
    # a class named by a folder whose name is not valid UTF-8: its files are rejected by name (unlabelled rows,
    # with the note), so the class would be an empty one the head learns but never predicts
    found.classes = [name for name in found.classes if name_encodable(name)]
    entries, skipped, examples, reading = _read(root, found, workers, rules or ReadRules())
    found.candidates = []  # the entries hold what is needed: memory for one object per file, not two
    rule = apply_rule(entries, options.val_fraction, options.test_fraction, options.split_seed)
    scan = Scan(root=root.resolve(), layout=found.layout, classes=found.classes, entries=entries,
                skipped_hidden=found.skipped_hidden, skipped_non_image=skipped, skipped_examples=examples,
                name=options.name, source=_source(options, found, entries, rule), reading=reading)
    scan.notes = (found.notes + _store_notes(root, walked.stores) + _links_out_note(root, walked.links_out)
                  + _undecodable_note(reading)
                  + moved_note(rule.moved, [found.classes[c] for c in rule.moved_classes])
                  + coverage_notes(entries, found.classes) + label_notes(entries, found.classes)
                  + skipped_note(skipped, examples))
    _check(scan, root)
    return scan


def _store_notes(root: Path, stores: set) -> list[Note]:
    if not stores:
        return []
    names = sorted(Path(s).relative_to(root).as_posix() + "/" for s in stores)
    return [Note("files.store_inside", len(names), f"{plural(len(names), 'feature store folder')} inside the "
                 f"data folder left out: {', '.join(names[:3])}",
                 tuple(names[:3]))]


def _links_out_note(root: Path, links: set) -> list[Note]:
    """Symlinked folders leading outside the data folder: not followed (as symlinked files, rejected)."""
    if not links:
        return []
    names = sorted(Path(link).relative_to(root).as_posix() + "/" for link in links)
    return [Note("files.links_out", len(names), f"{plural(len(names), 'symlinked folder')} leading outside the data "
                 f"folder not followed: {', '.join(names[:3])}", tuple(names[:3]))]


def _undecodable_note(reading: ReadOutcome) -> list[Note]:
    if not reading.bad_names:
        return []
    shown = reading.bad_names[:3]  # escaped already (escaped_name)
    return [Note("files.bad_name", len(reading.bad_names),
                 f"{plural(len(reading.bad_names), 'file')} with a name that is not valid UTF-8 left out "
                 f"(rename {'it' if len(reading.bad_names) == 1 else 'them'}), "
                 f"e.g. {', '.join(shown)}", tuple(shown))]


def _labelled(root: Path, options: DataOptions) -> Labelled:
    if options.labels is not None:
        return table_labels(root, options)
    if options.label_pattern is not None:
        return pattern_labels(root, options.label_pattern, options.unlabelled)
    if options.layout == "unlabelled":
        return unlabelled_candidates(root)
    tree = read_tree(root, options.layout)
    if options.unlabelled and options.layout == "auto" and not tree.class_dirs:
        return unlabelled_candidates(root)  # nothing but loose images: the whole folder, unlabelled
    return folder_labels(root, tree, options.unlabelled)


def _read(root: Path, found: Labelled, workers: int,
          rules: ReadRules) -> tuple[list[ScanEntry], int, list[str], ReadOutcome]:
    """The entries of the candidates (content hash, format, reason; split "" where none is given,
    for the split rule), the stray non-image files skipped on the way (count, a few examples), and
    how the files were read. A file whose name is not valid UTF-8 is not read: it is recorded as rejected under
    its escaped name (its class too, when the class folder's name is the invalid one: then it has no label)."""
    label_of = {name: i for i, name in enumerate(found.classes)}
    skipped, examples = found.skipped_non_image, list(found.skipped_examples)
    entries = []
    recordable = [name_encodable(c.rel) for c in found.candidates]
    candidates = [c for c, ok in zip(found.candidates, recordable) if ok]
    bad_names = [c for c, ok in zip(found.candidates, recordable) if not ok]
    reading = read_files(root, [str(c.path) for c in candidates], [c.rel for c in candidates], rules, workers)
    reading.bad_names = [escaped_name(c.rel) for c in bad_names]
    for candidate, digest, kind, reason in zip(candidates, reading.hashes, reading.kinds, reading.reasons):
        if not candidate.listed and not meant_as_image(candidate.path, kind, reason):
            skipped += 1  # README.txt and the like: not meant as an image
            if len(examples) < 5:
                examples.append(candidate.rel)
            continue
        split_source = candidate.split_source or ""
        if candidate.label is None:
            label, split = -1, UNLABELLED
        else:
            label, split = label_of[candidate.label], normalise_split(split_source) if split_source else ""
        entries.append(ScanEntry(candidate.rel, label, split, digest, kind, reason, split_source))
    for candidate, name in zip(bad_names, reading.bad_names):
        split_source = candidate.split_source or ""
        split_source = split_source if name_encodable(split_source) else ""  # a split folder's own name is the bad one
        if candidate.label in label_of:
            label, split = label_of[candidate.label], normalise_split(split_source) if split_source else ""
        else:  # unlabelled, or a class whose own name is not valid UTF-8 (no such class is kept)
            label, split = -1, UNLABELLED
        entries.append(ScanEntry(name, label, split, "", None, BAD_NAME_REASON, split_source))
    return entries, skipped, examples, reading


def _source(options: DataOptions, found: Labelled, entries: list[ScanEntry], rule: RuleResult) -> dict:
    """How labels and splits were obtained, for the store's record (JSON-able); `options` are the
    options as given, so that a later run (another backbone) reads the folder exactly the same way."""
    given = sorted({e.split_source for e in entries if e.label >= 0 and e.split_source})
    given_from = "table" if found.layout == "table" else "folders"
    splits_from = (f"{given_from}+rule" if given and rule.ruled else given_from if given else
                   "rule" if rule.ruled else "none")
    splits = {"from": splits_from, "names": {name: normalise_split(name) for name in given},
              "val_fraction": options.val_fraction, "test_fraction": options.test_fraction,
              "seed": options.split_seed, "rule": SPLIT_RULE, "rule_val_fraction": rule.val_fraction,
              "rule_test_fraction": rule.test_fraction, "ruled": rule.ruled, "carved_from_train": rule.carved,
              "moved": len(rule.moved)}
    return {"name": options.name, "layout": found.layout, **found.source, "splits": splits,
            "unlabelled": options.unlabelled, "options": options.to_record()}


def _check(scan: Scan, root: Path) -> None:
    usable = scan.usable()
    if not usable:
        loose = {folder: n for folder, n in scan.source.get("loose_folders", {}).items() if n}
        if loose:
            where = ", ".join(f"{n} in {folder + '/' if folder else 'the data folder'}" for folder, n in loose.items())
            raise ScanError(f"No labelled images in the data folder: images without a label ({where}). Give labels "
                            f"(labels=TABLE or label_pattern=REGEX) or read them unlabelled (unlabelled=True). "
                            f"Received: {root}")
        why = f" ({scan.notes[0].message})" if scan.notes else ""
        raise ScanError(f"No images found in the data folder{why}. Received: {root}")
    populated = sorted({scan.classes[e.label] for e in usable if e.label >= 0})
    if 0 < len(populated) < 2:  # rows with no label at all are fine: they are there to be predicted
        raise ScanError(
            f"At least 2 classes with images are needed; found {len(populated)}: {', '.join(populated)}. "
            f"Received: {root}"
        )
