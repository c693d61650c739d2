"""Benchmark: the read-time cost of the store's integrity checks (issue 20), paired in one process.

Builds a store from generated images (tiny MobileNet, random init, 16x16x16 features per image),
then times, alternating arm by arm, with the checks and with them switched off:
`heads fit --kind logreg`, `heads eval` of that head, and an `extract run` rerun (all cached).
"Off" replaces store.integrity.check_shard with a no-op and opens files with plain h5py, so it
measures what the checks add; the once-per-process sha256 cache is cleared before every "on" call,
as each CLI command is a new process. Fletcher-32 verification inside HDF5 stays in both arms.
For the rerun a third arm, "hash all", hashes every shard in every process, as `extract run` did
before the catalog index vouched for checksummed shards (store.catalog._vouched always False).

    python bench/bench_integrity.py [--per-class 200] [--repeats 5] [--json out.json]
    python bench/bench_integrity.py --per-class 25000 --shard-size 256 --only-rerun --repeats 3  # 100k images
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dataclasses  # noqa: E402

import h5py  # noqa: E402

from extract.api import run_extraction  # noqa: E402
from heads.evaluate import eval_head  # noqa: E402
from heads.fit import fit_head  # noqa: E402
from store import catalog, integrity, shards, view  # noqa: E402
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
    if on:
        yield
        return
    saved = catalog.check_shard, shards.open_own, view.open_own
    catalog.check_shard = lambda *args, **kwargs: None
    shards.open_own = view.open_own = lambda path: h5py.File(path, "r")
    try:
        yield
    finally:
        catalog.check_shard, shards.open_own, view.open_own = saved


HASH_ALL = "hash all"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--only-rerun", action="store_true", help="Time the extract run rerun alone (large stores).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    data, store = make_dataset(work / "data", per_class=args.per_class), work / "store"
    run = dataclasses.replace(TINY_RUN, shard_size=args.shard_size, batch_size=64)
    run_extraction(data, store, TINY, run)
    actions = {"extract run (rerun, all cached)": lambda: run_extraction(data, store, TINY, run)}
    if not args.only_rerun:
        head_dir = fit_head(store, "logreg", out=work / "head0").folder
        actions = {
            "heads fit --kind logreg": lambda: fit_head(store, "logreg", out=work / f"head-{time.monotonic_ns()}"),
            "heads eval": lambda: eval_head(head_dir, store=store),
            **actions,
        }
    results = {}
    for name, action in actions.items():
        with checks(True):
            action()  # warm-up: imports, TensorFlow
        arms = (True, False, HASH_ALL) if name.startswith("extract run") else (True, False)
        runs = []
        for repeat in range(args.repeats):
            order = arms if repeat % 2 == 0 else tuple(reversed(arms))
            seconds = {}
            for on in order:
                with checks(on):
                    seconds[on] = timed(action)
            runs.append(seconds)
        on = statistics.median(r[True] for r in runs)
        off = statistics.median(r[False] for r in runs)
        ratio = statistics.median(r[True] / r[False] for r in runs)
        results[name] = {"checks_on_s": round(on, 4), "checks_off_s": round(off, 4), "paired_ratio": round(ratio, 3)}
        line = f"{name:34s} on {on:7.3f}s  off {off:7.3f}s  paired ratio {ratio:5.3f}"
        if HASH_ALL in arms:
            every = statistics.median(r[HASH_ALL] for r in runs)
            every_ratio = statistics.median(r[HASH_ALL] / r[False] for r in runs)
            results[name].update(hash_all_s=round(every, 4), hash_all_ratio=round(every_ratio, 3))
            line += f"  | hash all {every:7.3f}s  ratio {every_ratio:5.3f}"
        print(line, flush=True)
    images = 2 * 2 * args.per_class
    print(f"{images} images, {sum(1 for _ in store.glob('configs/*/shards/*.h5'))} shards, work folder {work}")
    if args.json:
        args.json.write_text(json.dumps({"images": images, "repeats": args.repeats, "results": results}, indent=2))


if __name__ == "__main__":
    main()
