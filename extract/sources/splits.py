"""Split names as users write them, and the split rule for files whose split nobody gave.

The rule is retrain.py's: a hash of the file name (minus any `_nohash_` suffix, so that several
shots of one subject stay together) picks a bucket in 0..9999, so a file keeps its split when
others are added, renamed or relabelled. Buckets [0, V) are validation, [V, V+T) test, the rest
train (V, T = fractions x 10 000): with no test share and seed 0 this is exactly the split of
earlier versions, and a test share only ever takes files from train.

A small class can come out of that rule with no train or no validation file at all, which makes
a head fail or score nothing. So within each class a guarantee follows the rule: n >= 1 usable
files give at least one train file, n >= 2 one validation file (when V > 0), n >= 3 one test
file (when T > 0), by moving the files whose buckets are nearest to the missing split's range.
A class whose splits the rule already fills moves nothing: large classes keep the per-file rule.

The rule fills only the splits the data does not give: it splits the files with no given split,
and also the files given as train when no file is given as validation (a lone train/ folder, as
in Kaggle downloads) or, with a test share, as test. A given validation or test split takes the
place of its share (the share used is then 0).
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

from extract.sources.records import ScanEntry

BUCKETS = 10_000
SPLIT_ALIASES = {"train": "train", "training": "train",
                 "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
                 "test": "test", "testing": "test"}
# Top-level folder names read as splits rather than classes: the aliases, holdout and unlabelled
# sets, and numbered variants such as Kaggle's `test1`.
_SPLIT_LIKE = re.compile(r"(train|training|val|valid|validation|dev|test|testing|holdout|unlabell?ed)([-_ ]?\d+)?",
                         re.IGNORECASE)


SPLIT_RULE = ("sha1(file stem minus any _nohash_ suffix; seed prefixed when not 0) % 10000: [0, V) validation, "
              "[V, V+T) test, the rest train; for files with no given split, and for train files when the data "
              "gives no validation (or test) split; then per class >= 1 train, >= 1 validation (n >= 2, V > 0), "
              ">= 1 test (n >= 3, T > 0) by moving the ruled files nearest those ranges")


def normalise_split(name: str) -> str:
    """val, valid, validation, dev -> validation; test, testing -> test; train, training -> train;
    any other name lower-cased (case-insensitive throughout)."""
    lower = name.strip().lower()
    return SPLIT_ALIASES.get(lower, lower)


def split_like(name: str) -> bool:
    return _SPLIT_LIKE.fullmatch(name.strip()) is not None


def _stem(file_name: str) -> str:
    """PurePosixPath(file_name).stem, without building a path per file."""
    name = file_name.rstrip("/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def name_bucket(file_name: str, seed: int = 0) -> tuple[int, str]:
    """(bucket in 0..9999, full digest for tie-breaks) of a file name."""
    stem = _stem(file_name)
    key = re.sub(r"_nohash_.*$", "", stem) if "_nohash_" in stem else stem
    text = key if seed == 0 else f"{seed}\0{key}"
    digest = hashlib.sha1(text.encode()).hexdigest()
    return int(digest, 16) % BUCKETS, digest


def _ranges(val_fraction: float, test_fraction: float) -> dict[str, tuple[float, float]]:
    validation_end = val_fraction * BUCKETS
    test_end = (val_fraction + test_fraction) * BUCKETS
    return {"validation": (0.0, validation_end), "test": (validation_end, test_end), "train": (test_end, BUCKETS)}


def split_by_name(file_name: str, val_fraction: float, test_fraction: float = 0.0, seed: int = 0) -> str:
    return _bucket_split(name_bucket(file_name, seed)[0], _ranges(val_fraction, test_fraction))


def _bucket_split(bucket: int, ranges: dict[str, tuple[float, float]]) -> str:
    for split, (low, high) in ranges.items():
        if low <= bucket < high:
            return split
    return "train"


@dataclass
class RuleResult:
    val_fraction: float  # the shares the rule used: 0 for a split the data already gives
    test_fraction: float
    ruled: int  # files the rule split
    carved: int  # of which were given as train
    moved: list[str]  # paths the per-class guarantee moved off their rule split
    moved_classes: list[int]  # labels of the classes that needed it


def apply_rule(entries: list[ScanEntry], val_fraction: float, test_fraction: float, seed: int) -> RuleResult:
    """Split the labelled entries that have no split ("") and, when the data gives train files but no
    validation (or, with a test share, no test) files, the train files too: the rule fills only the
    splits the data does not give. Then the per-class guarantee; entries with a given split count
    towards it but never move."""
    given = {e.split for e in entries if e.label >= 0 and e.split}
    val = 0.0 if "validation" in given else val_fraction
    test = 0.0 if "test" in given else test_fraction
    carve = bool(val or test)
    buckets: dict[int, tuple[int, str]] = {}
    result = RuleResult(val, test, 0, 0, [], [])
    ranges = _ranges(val, test)
    for position, entry in enumerate(entries):
        if entry.label >= 0 and (not entry.split or (carve and entry.split == "train")):
            result.carved += bool(entry.split)
            result.ruled += 1
            buckets[position] = name_bucket(entry.path, seed)
            entry.split = _bucket_split(buckets[position][0], ranges)
    by_class: dict[int, list[int]] = defaultdict(list)
    for position, entry in enumerate(entries):
        if not entry.reason and entry.label >= 0:
            by_class[entry.label].append(position)
    for label in sorted(by_class):
        moved = _guarantee(entries, by_class[label], buckets, ranges, val, test)
        if moved:
            result.moved.extend(moved)
            result.moved_classes.append(label)
    return result


def _guarantee(entries: list[ScanEntry], positions: list[int], buckets: dict[int, tuple[int, str]],
               ranges: dict[str, tuple[float, float]], val_fraction: float, test_fraction: float) -> list[str]:
    n = len(positions)
    minimum = {"train": 1 if n >= 1 else 0,
               "validation": 1 if val_fraction > 0 and n >= 2 else 0,
               "test": 1 if test_fraction > 0 and n >= 3 else 0}
    counts: dict[str, int] = defaultdict(int)
    for position in positions:
        counts[entries[position].split] += 1
    moved = []
    for target in ("train", "validation", "test"):
        if counts[target] >= minimum[target]:
            continue
        donors = [p for p in positions if p in buckets and entries[p].split != target
                  and counts[entries[p].split] > minimum.get(entries[p].split, 0)]
        if not donors:
            continue  # every file of the class has a given split: nothing may move
        low, high = ranges[target]
        chosen = min(donors, key=lambda p: (_distance(buckets[p][0], low, high), buckets[p][1], entries[p].path))
        counts[entries[chosen].split] -= 1
        counts[target] += 1
        entries[chosen].split = target
        moved.append(entries[chosen].path)
    return moved


def _distance(bucket: int, low: float, high: float) -> float:
    if bucket < low:
        return low - bucket
    return max(0.0, bucket - high + 1)
