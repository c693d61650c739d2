"""Extraction throughput, in one run on the same images:

  (a) bound:  the feature model alone on in-memory tensors (no decoding, no writing)
  (b) ours:   `extract run` into a fresh store (decode + resize + model + shard writes)
  (c) recipe: keras.utils.image_dataset_from_directory(shuffle=False) + model.predict,
              on the same feature model, as a user writes it today

Usage: python bench/bench_extract.py [--images 400] [--rounds 3] [--backbones vgg16:150,mobilenet_v2:224]
The three are measured in alternation, --rounds times, and the medians reported: on a shared
machine a change of load then hits all three alike.
Needs ../shared (or BOTTLENECK_SHARED) for the data and weights. Prints a table and writes JSON
to bench/results/extract.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))
WEIGHTS = {
    "vgg16": SHARED / "weights" / "vgg16_imagenet_torchvision_notop.h5",
    "mobilenet_v2": SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    "mobilenet": SHARED / "weights" / "mobilenet_1_0_224_tf_no_top.h5",
}


def subset(count: int, into: Path) -> Path:
    """The first count/2 cats and count/2 dogs of the training split, copied."""
    source = SHARED / "data" / "dogs_vs_cats" / "train"
    for name in ("cats", "dogs"):
        (into / name).mkdir(parents=True)
        for path in sorted((source / name).iterdir())[: count // 2]:
            shutil.copy(path, into / name / path.name)
    return into


def built(backbone: str, size: int):
    """The feature model of `backbone` at `size` with its ../shared weights, built."""
    from extract.extractor import Extractor
    from extract.options import ExtractOptions

    return Extractor.from_options(ExtractOptions(backbone, str(WEIGHTS[backbone]), size=size)).build()


def bound(configured, xla: bool, images: int, batch: int) -> float:
    import numpy as np

    from extract.extractor import compile_inference

    infer = compile_inference(configured.model, xla)
    size = configured.config.size
    data = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    infer(data).numpy()  # compile outside the timing: the steady-state bound
    steps = max(1, images // batch)
    started = time.perf_counter()
    for _ in range(steps):
        infer(data).numpy()
    return steps * batch / (time.perf_counter() - started)


def ours(data: Path, backbone: str, size: int, batch: int) -> dict:
    from extract.api import run_extraction
    from extract.options import ExtractOptions, RunOptions

    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as store:
        summary = run_extraction(data, store, ExtractOptions(backbone, str(WEIGHTS[backbone]), size=size),
                                 RunOptions(batch_size=batch), on_progress=lambda n: stamps.append(time.perf_counter()))
    steady = (summary.extracted - batch) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {"end_to_end": summary.images_per_second, "steady": steady,
            "whole_command_seconds": summary.seconds, "extracted": summary.extracted}


def recipe(backbone: str, size: int, data: Path, batch: int) -> float:
    """A fresh model each time, as in a user's script: its predict function is traced inside the
    timing, as `extract run`'s is (a reused model would keep its traced function: unfair to ours)."""
    import keras

    configured = built(backbone, size)
    dataset = keras.utils.image_dataset_from_directory(
        data, image_size=(size, size), batch_size=batch, shuffle=False, label_mode=None, verbose=False)
    count = sum(1 for _ in data.rglob("*.jpg"))
    started = time.perf_counter()
    configured.model.predict(dataset, verbose=0)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbones", default="vgg16:150,mobilenet_v2:224")
    args = parser.parse_args()

    from extract.backbones import get_backbone

    import statistics

    results = []
    for item in args.backbones.split(","):
        backbone, size = item.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            data = subset(args.images, Path(tmp) / "data")
            configured = built(backbone, int(size))
            xla = get_backbone(backbone).xla_on_cpu
            rounds = []
            for _ in range(args.rounds):
                rounds.append({"bound": bound(configured, xla, args.images, args.batch_size),
                               "ours": ours(data, backbone, int(size), args.batch_size),
                               "recipe": recipe(backbone, int(size), data, args.batch_size)})
        median = statistics.median
        row = {"backbone": backbone, "size": int(size), "images": args.images, "xla": xla, "rounds": rounds,
               "bound": median(r["bound"] for r in rounds),
               "ours_end_to_end": median(r["ours"]["end_to_end"] for r in rounds),
               "ours_steady": median(r["ours"]["steady"] for r in rounds),
               "recipe": median(r["recipe"] for r in rounds)}
        row["ours_vs_bound"] = row["ours_steady"] / row["bound"]
        row["ours_end_to_end_vs_bound"] = row["ours_end_to_end"] / row["bound"]
        row["ours_vs_recipe"] = row["ours_end_to_end"] / row["recipe"]
        results.append(row)
        print(f"{backbone}@{size} (median of {args.rounds}): bound {row['bound']:.1f} img/s | extract run "
              f"{row['ours_end_to_end']:.1f} end-to-end, {row['ours_steady']:.1f} steady ({row['ours_vs_bound']:.0%} "
              f"of bound) | recipe {row['recipe']:.1f} img/s (ours end-to-end x{row['ours_vs_recipe']:.2f})",
              flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "extract.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
