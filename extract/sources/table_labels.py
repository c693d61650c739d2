"""Labels from a table: its rows matched to the files on disk, and every mismatch counted.

A file value is a path relative to the data folder, or a Kaggle-style id to which an image
extension is added (the one given, else whichever of .jpg, .jpeg, .png... exists). Rows naming no
file on disk, files on disk the table does not name, repeated rows and contradicting rows each get
their own note with a count and examples: nothing is dropped without a line saying so.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from extract.sources.files import looks_like_image, walk_names
from extract.sources.options import DataOptions
from extract.sources.records import Candidate, Labelled, Note
from extract.sources.report import examples_text, plural
from extract.sources.table import Columns, Table, choose_columns, locate_table, read_table
from store.paths import PathEscapeError, check_relative

EXTENSION_TRIES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".jpe", ".jfif", ".dib")


def table_labels(root: Path, options: DataOptions) -> Labelled:
    path = locate_table(options.labels, root)
    table = read_table(path)
    columns = choose_columns(table, options.file_column, options.label_column, options.split_column)
    paths, rels, hidden = walk_names(root, "")  # plain strings in bulk: no Path object per file
    own = _relative_inside(path, root)
    disk = dict(zip(rels, paths))
    disk.pop(own, None)
    matched = _match_rows(table, columns, disk, _extensions(options.extension))
    found = Labelled(layout="table", candidates=[], classes=[], skipped_hidden=hidden)
    name = path.name

    rows_by_file = matched.rows_by_file
    conflicts = {rel: rows for rel, rows in rows_by_file.items() if len(set(rows)) > 1}
    duplicates = sum(len(rows) - 1 for rel, rows in rows_by_file.items() if rel not in conflicts)
    no_label = []
    for rel in sorted(rows_by_file):
        if rel in conflicts:
            continue
        label, split = rows_by_file[rel][0]
        if not label and not options.unlabelled:
            no_label.append(rel)
            continue
        found.candidates.append(Candidate(disk[rel], rel, label or None, split or None, listed=True))

    images = _unlisted(found, disk, set(rows_by_file), options.unlabelled)
    found.classes = class_order({c.label for c in found.candidates if c.label is not None})
    hint = _elsewhere(matched.missing[0], disk) if matched.missing and not rows_by_file else ""
    found.notes.extend(_notes(name, matched, conflicts, duplicates, no_label, images, options.unlabelled, hint))
    found.source = {"labels": {"from": "table", "table": str(path.resolve()), "columns": list(table.columns),
                               "file_column": columns.names[0], "label_column": columns.names[1],
                               "split_column": columns.names[2], "extensions_added": dict(matched.added),
                               "rows": len(table.rows)}}
    return found


def _unlisted(found: Labelled, disk: dict[str, str], listed: set[str], unlabelled: bool) -> list[str]:
    """The images on disk the table does not name (returned for their note): unlabelled candidates
    when asked; other unlisted files are counted as skipped non-images."""
    unlisted = sorted(set(disk) - listed)
    images = [rel for rel in unlisted if looks_like_image(disk[rel])]
    if unlabelled:
        found.candidates.extend(Candidate(disk[rel], rel, None, rel.split("/", 1)[0] if "/" in rel else "")
                                for rel in unlisted)
        return images
    image_set = set(images)
    others = [rel for rel in unlisted if rel not in image_set]
    found.skipped_non_image += len(others)
    found.skipped_examples.extend(others[:5])
    return images


def _elsewhere(value: str, disk: dict[str, str]) -> str:
    """When no row names a file, where the first one is after all (Kaggle's train/<id>.jpg beside
    labels.csv): a hint to give that folder as the data folder."""
    for rel in disk:
        folder, _, name = rel.rpartition("/")
        if folder and (name == value or name.rsplit(".", 1)[0] == value):
            return f" ({value} is in {folder}/: give that folder as the data folder)"
    return ""


class _Matched:
    def __init__(self) -> None:
        self.rows_by_file: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.missing: list[str] = []
        self.outside: list[str] = []
        self.blank = 0
        self.added: Counter = Counter()


def _match_rows(table: Table, columns: Columns, disk: dict[str, str], extensions: tuple[str, ...]) -> _Matched:
    """Each row's file on disk. A value that is a walked path as it is (or with an extension) is one
    dict lookup: the walk only yields paths inside the data folder. Only the others are parsed, to tell a
    path leaving the folder from a missing file (and to find `a//b.jpg` as `a/b.jpg`)."""
    matched = _Matched()
    for row in table.rows:
        value = row[columns.file]
        if not value:
            matched.blank += 1
            continue
        rel = _on_disk(value, disk, extensions, matched)
        if rel is None:
            continue
        split = row[columns.split] if columns.split is not None else ""
        matched.rows_by_file[rel].append((row[columns.label], split))
    return matched


def _on_disk(value: str, disk: dict[str, str], extensions: tuple[str, ...], matched: _Matched) -> str | None:
    """The walked path a table value names (counting an added extension), or None (counted as missing or
    outside)."""
    if value in disk:
        return value
    for extension in extensions:
        if value + extension in disk:
            matched.added[extension] += 1
            return value + extension
    text = value.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    try:
        rel = check_relative(text, "file").as_posix()
    except PathEscapeError:
        matched.outside.append(value)
        return None
    if rel in disk:
        return rel
    extension = next((e for e in extensions if rel + e in disk), None)
    if extension is None:
        matched.missing.append(value)
        return None
    matched.added[extension] += 1
    return rel + extension


def _extensions(extension: str | None) -> tuple[str, ...]:
    if extension is not None:
        return ("." + extension.strip().lstrip("."),)
    return EXTENSION_TRIES + tuple(e.upper() for e in EXTENSION_TRIES)


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def class_order(labels: set[str]) -> list[str]:
    """Sorted as Keras sorts folder names; numerically when every label is a whole number (2 < 10)."""
    if labels and all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _notes(name: str, matched: _Matched, conflicts: dict, duplicates: int, no_label: list[str],
           unlisted_images: list[str], unlabelled: bool, hint: str) -> list[Note]:
    notes = []

    def add(code: str, count: int, text: str, examples: list[str]) -> None:
        if count:
            shown = examples[:3]
            notes.append(Note(code, count, f"{text}, {examples_text(shown)}" if shown else text, tuple(shown)))

    add("table.missing", len(matched.missing),
        f"{plural(len(matched.missing), 'file')} in {name} not found on disk{hint}", matched.missing)
    add("table.outside", len(matched.outside),
        f"{plural(len(matched.outside), 'row')} in {name} name a file outside the data folder, not used",
        matched.outside)
    add("table.blank", matched.blank, f"{plural(matched.blank, 'row')} in {name} without a file name, not used", [])
    what = "read as unlabelled rows" if unlabelled else "not used (unlabelled=True reads them as unlabelled rows)"
    add("table.unlisted", len(unlisted_images),
        f"{plural(len(unlisted_images), 'image')} in the data folder not in {name}, {what}", unlisted_images)
    add("table.duplicates", duplicates,
        f"{plural(duplicates, 'duplicate row')} in {name} (same file, same label), counted once",
        [rel for rel, rows in matched.rows_by_file.items() if len(rows) > 1 and rel not in conflicts])
    conflict_examples = [f"{rel} ({', '.join(sorted({label or '-' for label, _ in rows}))})"
                         for rel, rows in conflicts.items()]
    add("table.conflicts", len(conflicts),
        f"{plural(len(conflicts), 'file')} with conflicting labels (or splits) in {name}, not used", conflict_examples)
    add("table.no_label", len(no_label), f"{plural(len(no_label), 'file')} in {name} without a label, not used "
        f"(unlabelled=True reads them as unlabelled rows)", no_label)
    return notes

