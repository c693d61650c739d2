"""Benchmark: the read-time cost of the store's integrity checks (issue 20), paired in one process.

Builds a store from generated images (tiny MobileNet, random init, 16x16x16 features per image),
then times, alternating arm by arm, with the checks and with them switched off:
`heads fit --kind logreg`, `heads eval` of that head, and an `extract run` rerun (all cached).
"Off" replaces store.integrity.check_shard with a no-op where it is called (catalog, shards) and opens
files with plain h5py wherever the store opens them through store.integrity.open_own, so it measures what
the checks add; the once-per-process sha256 cache is cleared before every "on" call,
as each CLI command is a new process. Fletcher-32 verification inside HDF5 stays in both arms.
For the rerun a third arm, "hash all", hashes every shard in every process, as `extract run` did
before the catalog index vouched for checksummed shards (store.catalog._vouched always False).

    python bench/bench_integrity.py [--per-class 200] [--repeats 5] [--json out.json]
    python bench/bench_integrity.py --per-class 25000 --shard-size 256 --only-rerun --repeats 3  # 100k images

On an existing store (`--store DIR --config NAME`, e.g. a copy of the Dogs vs Cats vgg16@150 store): times
`heads fit --kind logreg` and `heads eval` only, and nothing is written into DIR (heads go to a temporary
folder). A third arm, "bare", reads a twin of the configuration whose shards are rewritten as they were
before issue 20 (contiguous, no Fletcher-32; markers re-signed) with the checks off: on / bare is the whole
read-time cost, Fletcher-32 decoding included. In this mode "off" also skips the dataset index digest check.
A fourth arm, "point", is "on" with rows read by h5py's point selection, as before store.integrity.read_rows;
last, the shards' row reads alone, point selection against read_rows.

    python bench/bench_integrity.py --store /work/scratch-trust20/dvc --config vgg16 --repeats 7
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dataclasses  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from extract.api import run_extraction  # noqa: E402
from heads import evaluate, fit_data  # noqa: E402
from heads.evaluate import eval_head  # noqa: E402
from heads.fit import fit_head  # noqa: E402
from store import catalog, datasets, derived, integrity, legacy, partials, shards, view  # noqa: E402
from tests.conftest import TINY, TINY_RUN, make_dataset  # noqa: E402


@contextlib.contextmanager
def checks(on: bool | str):
    """The integrity checks as shipped (True), switched off (False: plain h5py opens, no shard check), or
    "hash all" (every shard hashed in every process, as before the catalog index vouched for shards)."""
    integrity._VERIFIED.clear()
    integrity._OWN.clear()
    if on == HASH_ALL:
        saved_vouched = catalog._vouched
        catalog._vouched = lambda *args: False
        try:
            yield
        finally:
            catalog._vouched = saved_vouched
        return
    if on is True:
        yield
        return
    if on == POINT_READS:
        saved_reads = view.read_rows, shards.read_rows
        view.read_rows = shards.read_rows = lambda dataset, rows: dataset[rows]
        try:
            yield
        finally:
            view.read_rows, shards.read_rows = saved_reads
        return
    patched = [(catalog, "check_shard"), (shards, "check_shard")] + [
        (module, "open_own") for module in (shards, view, datasets, derived, partials, legacy)]
    if on == NO_INDEX_CHECK:
        patched += [(fit_data, "edited_reason"), (evaluate, "edited_reason")]
    saved = [getattr(module, name) for module, name in patched]
    for module, name in patched:
        setattr(module, name, (lambda path: h5py.File(path, "r")) if name == "open_own" else
                (lambda *args, **kwargs: None))
    try:
        yield
    finally:
        for (module, name), original in zip(patched, saved):
            setattr(module, name, original)


HASH_ALL = "hash all"
NO_INDEX_CHECK = "off, index digest too"  # a false value for `checks`: everything off
POINT_READS = "point reads"  # checks on, rows read by h5py's point selection (before store.integrity.read_rows)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(name: str, arms: dict, repeats: int) -> dict:
    """Time each arm (label -> (checks setting, action)) `repeats` times, the arms of a repeat in alternating
    order; medians of the seconds and of each pair's ratio, paired repeat by repeat."""
    first_setting, first_action = next(iter(arms.values()))
    with checks(first_setting):
        first_action()  # warm-up: imports, TensorFlow, a catalog index written
    labels, runs = list(arms), []
    for repeat in range(repeats):
        seconds = {}
        for label in labels if repeat % 2 == 0 else reversed(labels):
            setting, action = arms[label]
            with checks(setting):
                seconds[label] = timed(action)
        runs.append(seconds)
    result = {"seconds": {label: round(statistics.median(r[label] for r in runs), 4) for label in labels},
              "ratios": {f"{a}/{b}": round(statistics.median(r[a] / r[b] for r in runs), 3)
                         for a in labels for b in labels if a != b}}
    shown = [pair for pair in result["ratios"] if pair.endswith("/off") or pair in ("on/bare", "point/on")]
    print(f"{name:34s} " + "  ".join(f"{label} {result['seconds'][label]:7.3f}s" for label in labels) + "  | "
          + "  ".join(f"{pair} {result['ratios'][pair]:5.3f}" for pair in shown), flush=True)
    return result


def generated(args) -> dict:
    """A store built here from generated images (tiny MobileNet): fit, eval and the rerun."""
    work = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    data, store = make_dataset(work / "data", per_class=args.per_class), work / "store"
    run = dataclasses.replace(TINY_RUN, shard_size=args.shard_size, batch_size=64)
    run_extraction(data, store, TINY, run)
    results = {}
    if not args.only_rerun:
        head_dir = fit_head(store, "logreg", out=work / "head0").folder
        fit = lambda: fit_head(store, "logreg", out=work / f"head-{time.monotonic_ns()}")  # noqa: E731
        score = lambda: eval_head(head_dir, store=store)  # noqa: E731
        results["heads fit --kind logreg"] = measure("heads fit --kind logreg", {"on": (True, fit), "off": (False, fit)},
                                                     args.repeats)
        results["heads eval"] = measure("heads eval", {"on": (True, score), "off": (False, score)}, args.repeats)
    rerun = lambda: run_extraction(data, store, TINY, run)  # noqa: E731
    results["extract run (rerun, all cached)"] = measure(
        "extract run (rerun, all cached)", {"on": (True, rerun), "off": (False, rerun), HASH_ALL: (HASH_ALL, rerun)},
        args.repeats)
    images = 2 * 2 * args.per_class
    print(f"{images} images, {sum(1 for _ in store.glob('configs/*/shards/*.h5'))} shards, work folder {work}")
    return {"images": images, "results": results}


def bare_twin(store: Path, config_id: str, work: Path) -> Path:
    """A copy of `store` holding only `config_id`, its shards rewritten as before issue 20 (contiguous
    datasets, no Fletcher-32), their markers re-signed; no catalog index or derived arrays (rebuilt on use)."""
    twin = work / "bare-store"
    twin.mkdir()
    for name in ("store.json", "datasets"):
        (shutil.copytree if (store / name).is_dir() else shutil.copy2)(store / name, twin / name)
    source, target = store / "configs" / config_id, twin / "configs" / config_id
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("catalog.h5", "derived", "*.lock", "shards"))
    (target / "shards").mkdir()
    for marker_path in sorted((source / "shards").glob("*.commit.json")):
        shard = marker_path.with_name(json.loads(marker_path.read_text())["shard"])
        copy = target / "shards" / shard.name
        with h5py.File(shard, "r") as old, h5py.File(copy, "w") as new:
            new.attrs.update(old.attrs)
            for key in old:
                new.create_dataset(key, data=old[key][()], dtype=old[key].dtype)
        marker = json.loads(marker_path.read_text())
        marker.update(bytes=copy.stat().st_size, sha256=integrity.file_sha256(copy))
        (target / "shards" / marker_path.name).write_text(json.dumps(marker, indent=2))
    return twin


def row_reads(shards_dir: Path, repeats: int, share: float = 0.7) -> dict:
    """Reading `share` of each shard's rows (random, sorted): h5py's point selection against
    store.integrity.read_rows (one span, picked in NumPy), alternating, paired per repeat."""
    rng = np.random.default_rng(0)
    paths = sorted(shards_dir.glob("*.h5"))
    ways = {"point selection": lambda d, rows: d[rows], "read_rows (span)": integrity.read_rows}
    runs = []
    for repeat in range(repeats):
        picks = {path: np.sort(rng.choice(256, int(256 * share), replace=False)) for path in paths}
        seconds = {}
        for name in ways if repeat % 2 == 0 else reversed(list(ways)):
            started = time.perf_counter()
            for path, rows in picks.items():
                with h5py.File(path, "r") as f:
                    ways[name](f["features"], rows[rows < len(f["features"])])
            seconds[name] = time.perf_counter() - started
        runs.append(seconds)
    result = {name: round(statistics.median(r[name] for r in runs), 4) for name in ways}
    result["ratio"] = round(statistics.median(r["point selection"] / r["read_rows (span)"] for r in runs), 2)
    print(f"{share:.0%} of each shard's rows: " + "  ".join(f"{name} {result[name]:.3f}s" for name in ways)
          + f"  | point / span {result['ratio']:.1f}", flush=True)
    return result


def existing(args) -> dict:
    """An existing store (not written to): fit and eval, checks on, off, and off on the bare twin."""
    from store import FeatureStore

    config_id = FeatureStore(args.store).select(args.config).config_id
    work = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    twin = bare_twin(args.store, config_id, work)
    results = {}
    head = fit_head(args.store, "logreg", config=config_id, out=work / "head0").folder
    for name, action in {
        "heads fit --kind logreg": lambda where: lambda: fit_head(where, "logreg", config=config_id,
                                                                  out=work / f"head-{time.monotonic_ns()}"),
        "heads eval": lambda where: lambda: eval_head(head, store=where),
    }.items():
        results[name] = measure(name, {"on": (True, action(args.store)), "off": (NO_INDEX_CHECK, action(args.store)),
                                       "bare": (NO_INDEX_CHECK, action(twin)),
                                       "point": (POINT_READS, action(args.store))}, args.repeats)
    results["row reads"] = row_reads(args.store / "configs" / config_id / "shards", args.repeats)
    shard_count = sum(1 for _ in (args.store / "configs" / config_id / "shards").glob("*.h5"))
    print(f"{args.store} {config_id}: {shard_count} shards; work folder {work}")
    return {"store": str(args.store), "config": config_id, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--only-rerun", action="store_true", help="Time the extract run rerun alone (large stores).")
    parser.add_argument("--store", type=Path, help="Time fit and eval on this existing store (never written to).")
    parser.add_argument("--config", help="With --store: the configuration (name, id or id prefix).")
    args = parser.parse_args()
    report = existing(args) if args.store else generated(args)
    if args.json:
        args.json.write_text(json.dumps({"repeats": args.repeats, **report}, indent=2))


if __name__ == "__main__":
    main()
