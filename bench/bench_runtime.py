"""TensorFlow vs ONNX Runtime for the frozen base (issue 19), paired in one run:

  (a) TF base alone     (b) ORT base alone      -- the same 64 in-memory images, batch 32
  (c) extract run --runtime tensorflow   (d) extract run --runtime onnxruntime  -- end to end,
      the same Dogs vs Cats images into fresh stores (decode + resize + base + shard writes)

and the largest feature difference between (c) and (d), relative to the features' scale. Each
pair is measured in alternation, --rounds times, medians reported (a shared machine's load then
hits both alike). The ORT conversion is made once, before the timings, and reported on its own.

Usage: python bench/bench_runtime.py [--images 256] [--rounds 3] [--backbones mobilenet_v2:224,vgg16:150]
Needs ../shared (or BOTTLENECK_SHARED). Writes bench/results/runtime.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import REPO, WEIGHTS, subset  # noqa: E402


def base_alone(infer, images, batch: int = 32) -> float:
    infer(images[:batch])  # warm: compilation / session setup outside the timing
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        infer(images[start:start + batch])
    return len(images) / (time.perf_counter() - started)


def end_to_end(data: Path, store: Path, options, runtime: str) -> float:
    from extract import RunOptions, run_extraction

    started = time.perf_counter()
    summary = run_extraction(data, store, options, RunOptions(batch_size=32, runtime=runtime))
    return summary.extracted / (time.perf_counter() - started)


def measure(backbone: str, size: int, data: Path, work: Path, rounds: int) -> dict:
    import numpy as np

    from extract.extractor import Extractor
    from extract.options import ExtractOptions
    from extract.runtimes import get_runtime
    from extract.runtimes.onnx import disagreement
    from store import FeatureStore

    options = ExtractOptions(backbone, str(WEIGHTS[backbone]), size=size, pool="avg")
    extractor = Extractor.from_options(options).build()
    started = time.perf_counter()
    ort_infer = get_runtime("onnxruntime").load(extractor, work / "conversion")  # convert + agreement check
    conversion = time.perf_counter() - started
    tf_infer = get_runtime("tensorflow").load(extractor)
    images = np.random.default_rng(0).uniform(0, 255, (64, size, size, 3)).astype(np.float32)
    rows = {"tf_base": [], "ort_base": [], "tf_run": [], "ort_run": []}
    for r in range(rounds):
        rows["tf_base"].append(base_alone(tf_infer, images))
        rows["ort_base"].append(base_alone(ort_infer, images))
        rows["tf_run"].append(end_to_end(data, work / f"tf{r}", options, "tensorflow"))
        rows["ort_run"].append(end_to_end(data, work / f"ort{r}", options, "onnxruntime"))
    medians = {key: statistics.median(values) for key, values in rows.items()}
    want, got = FeatureStore(work / "tf0").view().read("train"), FeatureStore(work / "ort0").view().read("train")
    assert got.paths == want.paths
    return {"backbone": backbone, "size": size, "conversion_s": round(conversion, 2),
            **{k: round(v, 1) for k, v in medians.items()},
            "base_ratio": round(medians["ort_base"] / medians["tf_base"], 2),
            "run_ratio": round(medians["ort_run"] / medians["tf_run"], 2),
            "max_rel_diff": float(f"{disagreement(got.features, want.features):.2g}")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbones", default="mobilenet_v2:224,vgg16:150")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        data = subset(args.images, Path(folder) / "data" / "train")
        for item in args.backbones.split(","):
            backbone, size = item.split(":")
            work = Path(folder) / backbone
            results.append(measure(backbone, int(size), data.parent, work, args.rounds))
            print(json.dumps(results[-1]), flush=True)
    print("| base | conversion s | TF base img/s | ORT base img/s | ratio | TF run img/s | ORT run img/s "
          "| ratio | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backbone']} @{r['size']} | {r['conversion_s']} | {r['tf_base']} | {r['ort_base']} | "
              f"{r['base_ratio']}x | {r['tf_run']} | {r['ort_run']} | {r['run_ratio']}x | {r['max_rel_diff']} |")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "runtime.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
