"""TensorFlow vs ONNX Runtime for the frozen base (issue 19), paired in one run:

  (a) TF base alone     (b) ORT base alone      -- the same 64 in-memory images, batch 32
  (c) extract run --runtime tensorflow   (d) extract run --runtime onnxruntime  -- end to end,
      the same Dogs vs Cats images into fresh stores (decode + resize + base + shard writes)

and the largest feature difference between (c) and (d), relative to the features' scale. Each
pair is measured in alternation, --rounds times, medians reported (a shared machine's load then
hits both alike). The ORT conversion is made once, before the timings, and reported on its own.

With --int8: (a), (b) and the int8 base alone (`--quantize int8`, OpenVINO + NNCF, calibrated on the
subset's 64 smallest content hashes), with its quantisation time and its cosine check; no (c), (d).

Usage: python bench/bench_runtime.py [--images 256] [--rounds 3] [--backbones mobilenet_v2:224,vgg16:150] [--int8]
Needs ../shared (or BOTTLENECK_SHARED). Writes bench/results/runtime.json.
"""
from __future__ import annotations

import argparse
import dataclasses
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


def int8_base(extractor, data: Path, work: Path):
    """(infer, quantise seconds, min cosine on the timed images) of the int8 base (extract.runtimes.int8),
    calibrated on the rule's train images of `data` (64 smallest content hashes)."""
    from extract import hash_image_file
    from extract.runtimes import get_runtime
    from extract.runtimes.int8 import calibration_sample

    quantized = extractor.derive()
    quantized.config = dataclasses.replace(extractor.config, quantize="int8")
    files = sorted(str(p) for p in data.rglob("*.jpg"))
    quantized.calibration = calibration_sample([(f, hash_image_file(Path(f))[0]) for f in files])
    started = time.perf_counter()
    infer = get_runtime("openvino-int8").load(quantized, work / "conversion")
    return infer, time.perf_counter() - started


def measure(backbone: str, size: int, data: Path, work: Path, rounds: int, int8: bool = False) -> dict:
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
    extra = {}
    if int8:
        int8_infer, extra["int8_quantize_s"] = int8_base(extractor, data, work)
        int8_infer(images[:8])  # the cosine check against TensorFlow, before the timings
        extra["int8_min_cosine_check"] = int8_infer.agreement["min_cosine"]
        rows["int8_base"] = []
    for r in range(rounds):
        rows["tf_base"].append(base_alone(tf_infer, images))
        rows["ort_base"].append(base_alone(ort_infer, images))
        if int8:
            rows["int8_base"].append(base_alone(int8_infer, images))
            continue  # the int8 figure is the base alone: end to end is bench_runtime_accuracy.py's
        rows["tf_run"].append(end_to_end(data, work / f"tf{r}", options, "tensorflow"))
        rows["ort_run"].append(end_to_end(data, work / f"ort{r}", options, "onnxruntime"))
    medians = {key: statistics.median(values) for key, values in rows.items() if values}
    if int8:
        return {"backbone": backbone, "size": size, **extra, **{k: round(v, 1) for k, v in medians.items()},
                "ort_base_ratio": round(medians["ort_base"] / medians["tf_base"], 2),
                "int8_base_ratio": round(medians["int8_base"] / medians["tf_base"], 2)}
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
    parser.add_argument("--int8", action="store_true", help="the int8 base alone beside (a) and (b); no (c), (d)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        data = subset(args.images, Path(folder) / "data" / "train")
        for item in args.backbones.split(","):
            backbone, size = item.split(":")
            work = Path(folder) / backbone
            results.append(measure(backbone, int(size), data.parent, work, args.rounds, args.int8))
            print(json.dumps(results[-1]), flush=True)
    if args.int8:
        return
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
