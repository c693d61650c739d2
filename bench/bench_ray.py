"""Local vs Ray extraction on one machine, and what the Ray engine costs.

Runs the same job, one after the other, into fresh stores:
  local        --engine local                                  (one process, TensorFlow on every core)
  ray 1x2      --engine ray --workers 1 --cpus-per-worker 2    (the same threads: the engine's own overhead)
  ray 2x1      --engine ray --workers 2 --cpus-per-worker 1    (the default on a 2-core machine)
and times a local Ray instance starting and stopping with nothing to do.

Usage: python bench/bench_ray.py [--synthetic N] [--backbone mobilenet --size 128 --weights shared]
Default data: ../shared/data/dogs_vs_cats (2800 JPEGs, or BOTTLENECK_SHARED); --synthetic N makes N
random 200x200 JPEGs instead. Prints a table; writes JSON to bench/results/ray.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))
SHARED_WEIGHTS = {"mobilenet": "mobilenet_1_0_224_tf_no_top.h5", "mobilenet_v2":
                  "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                  "vgg16": "vgg16_imagenet_torchvision_notop.h5"}
SETUPS = {"local": {"engine": "local"},  # RunOptions fields
          "ray 1x2": {"engine": "ray", "workers": 1, "cpus_per_worker": 2},
          "ray 2x1": {"engine": "ray", "workers": 2, "cpus_per_worker": 1}}


def synthetic(count: int, into: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        name = ("cats", "dogs")[i % 2]
        (into / name).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(into / name / f"{name}.{i}.jpg", quality=90)
    return into


def one_run(data: Path, extractor, run) -> dict:
    from extract.api import run_extraction
    from store import FeatureStore

    stamps: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as store:
        summary = run_extraction(data, store, extractor, run,
                                 on_progress=lambda n: stamps.append((time.perf_counter(), n)))
        rows = len(FeatureStore(store).view().catalog.rows)
    steady_images = sum(n for _, n in stamps[1:])
    steady = steady_images / (stamps[-1][0] - stamps[0][0]) if len(stamps) > 1 else 0.0
    return {"whole_command_seconds": round(summary.seconds, 2), "extract_seconds": round(summary.extract_seconds, 2),
            "end_to_end": round(summary.images_per_second, 2), "steady": round(steady, 2),
            "extracted": summary.extracted, "stored_rows": rows, "engine": summary.engine,
            "workers": summary.workers}


def ray_start_stop() -> float:
    from extract.engines import get_engine

    started = time.perf_counter()
    engine = get_engine("ray")
    engine.open()
    engine.close()
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic", type=int, default=0, help="N synthetic images instead of dogs_vs_cats")
    parser.add_argument("--backbone", default="mobilenet")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--weights", default="shared", help="shared (../shared/weights), none, or a file")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    from extract.options import ExtractOptions, RunOptions

    weights = str(SHARED / "weights" / SHARED_WEIGHTS[args.backbone]) if args.weights == "shared" else args.weights
    # as the report records them
    options = {"backbone": args.backbone, "weights": weights, "size": args.size, "alpha": args.alpha,
               "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic(args.synthetic, Path(tmp) / "data") if args.synthetic else SHARED / "data" / "dogs_vs_cats"
        extractor = ExtractOptions(args.backbone, weights, size=args.size, alpha=args.alpha)
        rows = {name: one_run(data, extractor, RunOptions(batch_size=args.batch_size, **setup))
                for name, setup in SETUPS.items()}
    start_stop = ray_start_stop()
    local = rows["local"]
    report = {"data": "synthetic" if args.synthetic else str(data), "options": options, "cpus": os.cpu_count(),
              "ray_start_stop_seconds": start_stop, "runs": rows,
              "overhead_seconds": {name: round(r["whole_command_seconds"] - local["whole_command_seconds"], 2)
                                   for name, r in rows.items() if name != "local"},
              "steady_vs_local": {name: round(r["steady"] / local["steady"], 3)
                                  for name, r in rows.items() if name != "local" and local["steady"]}}
    print(f"{local['extracted']} images, {args.backbone}@{args.size}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs; a local Ray instance starts and stops in {start_stop:.1f} s")
    print(f"{'setup':10} {'whole s':>8} {'extract s':>10} {'end-to-end/s':>13} {'steady/s':>9} {'overhead s':>11}")
    for name, r in rows.items():
        overhead = report["overhead_seconds"].get(name, 0.0)
        print(f"{name:10} {r['whole_command_seconds']:8.1f} {r['extract_seconds']:10.1f} {r['end_to_end']:13.1f} "
              f"{r['steady']:9.1f} {overhead:11.1f}")
        for worker, (images, rate) in r["workers"].items():
            print(f"{'':12}worker {worker}: {images} images, {rate:.1f} images/s")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ray.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
