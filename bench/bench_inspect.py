"""Time and peak memory of each `heads inspect` analysis, cold (nothing cached) and warm (cached in the store).

    python bench/bench_inspect.py --store /tmp/me-dvc --config mobilenet_v2-7a70a0457d14
    python bench/bench_inspect.py --generate /tmp/gen100k --rows 100000

--generate writes a store of N generated rows first (1280 values each, 10 classes as clusters, 80 %
train: MobileNetV2's pooled width). Each analysis runs in a fresh process (its peak RSS is its own);
the store's cached results (configs/*/derived) are deleted before the cold pass: run it on a COPY.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ANALYSES = ("duplicates", "suspects", "outliers", "neighbours", "map")


def generate(root: Path, rows: int, width: int = 1280, classes: int = 10) -> None:
    import numpy as np

    from tests.planted import write_rows

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((classes, width)).astype(np.float32)
    labels = rng.integers(0, classes, rows)
    vectors = centres[labels] + 1.2 * rng.standard_normal((rows, width)).astype(np.float32)
    vectors = np.maximum(vectors, 0)  # ReLU'd, like pooled backbone features
    splits = np.where(rng.random(rows) < 0.8, "train", "validation")
    names = [f"c{c}" for c in range(classes)]
    write_rows(root, [(f"{s}/{names[c]}/{i}.jpg", int(c), s, v) for i, (c, s, v) in
                      enumerate(zip(labels, splits, vectors))], names, (width,), {})


def one(store: str, config: str | None, analysis: str) -> dict:
    from heads import inspection

    started = time.perf_counter()
    if analysis == "duplicates":
        result = inspection.find_duplicates(store, config)
    elif analysis == "suspects":
        result = inspection.find_suspects(store, config)
    elif analysis == "outliers":
        result = inspection.find_outliers(store, config)
    elif analysis == "map":
        result = inspection.embedding_map(store, config, marks=False)
    else:
        first = inspection.find_outliers(store, config).table["path"].iloc[0]
        started = time.perf_counter()
        result = inspection.find_neighbours(store, [first], config)
    seconds = time.perf_counter() - started
    return {"analysis": analysis, "seconds": round(seconds, 2), "rows": len(result.table),
            "method": result.record.get("method", ""),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store")
    parser.add_argument("--config")
    parser.add_argument("--generate")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--one")
    parser.add_argument("--only", nargs="*", default=list(ANALYSES))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.store, args.config, args.one)))
        return
    store = args.store
    if args.generate:
        store = args.generate
        shutil.rmtree(store, ignore_errors=True)
        started = time.perf_counter()
        generate(Path(store), args.rows)
        print(f"generated {args.rows} rows in {time.perf_counter() - started:.1f} s", flush=True)
    for derived in Path(store).glob("configs/*/derived"):
        shutil.rmtree(derived)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    for run in ("cold", "warm"):
        for analysis in args.only:
            command = [sys.executable, __file__, "--store", store, "--one", analysis]
            command += ["--config", args.config] if args.config else []
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
            print(run, line, flush=True)


if __name__ == "__main__":
    main()
