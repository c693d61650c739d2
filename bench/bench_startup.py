"""Whole-command times of what should start fast: a first `extract run`, the rerun on unchanged data
(no TensorFlow import), `extract ls`, `extract verify`, and `heads fit --kind logreg`, each in a fresh
process (Python start-up, imports and all), several times.

    python bench/bench_startup.py                  # VGG16 at 150 px on ../shared/data/dogs_vs_cats, fresh store
    python bench/bench_startup.py --store DIR      # an existing store of that configuration: no first run
    python bench/bench_startup.py --backbone mobilenet --weights none --size 32 --alpha 0.25 --data DIR  # tiny

Targets (issue 12): the rerun at least 100x faster than the first run; `heads fit --kind logreg` under 3 s.
Each figure is the median of --repeat runs with min and max; the load average is printed before and after
(the machine may be shared: read a wide min-max spread as noise).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))


def timed(command: list[str]) -> float:
    """Wall seconds of one whole command, start-up included; a failing command stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}")
    return seconds


def repeated(name: str, command: list[str], repeat: int, figures: dict) -> None:
    runs = [timed(command) for _ in range(repeat)]
    figures[name] = {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}
    print(f"{name:<28} median {figures[name]['median']:7.2f} s   (min {min(runs):.2f}, max {max(runs):.2f}, "
          f"{repeat} runs)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "dogs_vs_cats")
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg16_imagenet_torchvision_notop.h5"))
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--layer", default=None)
    parser.add_argument("--store", type=Path, default=None, help="existing store (default: a fresh one)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    python = [sys.executable, "-m"]
    fresh = args.store is None
    store = args.store or Path(tempfile.mkdtemp(prefix="bench_startup_")) / "store"
    run = python + ["extract.cli", "run", "--data", str(args.data), "--store", str(store), "--backbone",
                    args.backbone, "--weights", args.weights, "--size", str(args.size)]
    run += ["--alpha", str(args.alpha)] if args.alpha else []
    run += ["--layer", args.layer] if args.layer else []
    heads_out = Path(tempfile.mkdtemp(prefix="bench_startup_heads_"))
    figures: dict = {"load_average_before": os.getloadavg()}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; store {store}", flush=True)
    if fresh:
        seconds = timed(run)
        figures["first run"] = {"median": seconds, "min": seconds, "max": seconds, "runs": [seconds]}
        print(f"{'first extract run':<28} {seconds:7.2f} s (one run)", flush=True)
    repeated("rerun (nothing to extract)", run, args.repeat, figures)
    repeated("extract ls", python + ["extract.cli", "ls", "--store", str(store)], args.repeat, figures)
    repeated("extract verify", python + ["extract.cli", "verify", "--store", str(store)], args.repeat, figures)
    fits = iter(range(args.repeat))
    fit = [timed(python + ["heads.cli", "fit", "--store", str(store), "--kind", "logreg", "--out",
                           str(heads_out / f"logreg-{next(fits)}")]) for _ in range(args.repeat)]
    figures["heads fit --kind logreg"] = {"median": statistics.median(fit), "min": min(fit), "max": max(fit),
                                          "runs": fit}
    print(f"{'heads fit --kind logreg':<28} median {statistics.median(fit):7.2f} s   (min {min(fit):.2f}, "
          f"max {max(fit):.2f}, {args.repeat} runs)", flush=True)
    record = json.loads((heads_out / "logreg-0" / "head.json").read_text())
    figures["logreg fit seconds (in the record)"] = record["fit_seconds"]
    figures["load_average_after"] = os.getloadavg()
    print(f"  (the fit itself, from its record: {record['fit_seconds']:.2f} s)")
    if fresh:
        ratio = figures["first run"]["median"] / figures["rerun (nothing to extract)"]["median"]
        figures["first / rerun"] = ratio
        print(f"first run / rerun: {ratio:.0f}x (target >= 100x)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(heads_out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
