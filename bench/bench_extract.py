"""Extraction end to end against the base alone, TensorFlow against ONNX Runtime (issues 19 and 23):

  (a) TF base alone     (b) ORT base alone      -- the same 64 in-memory images, batch 32
  (c) extract run --runtime tensorflow   (d) extract run --runtime onnxruntime  -- the same Dogs vs Cats
      images into fresh stores (scan, model build, decode, resize, base, shard writes)

plus the largest feature difference between (c) and (d) (relative to the features' scale), the ratio of
each runtime's end-to-end speed to its base alone, and where the time of each run went (extract.stages).
Speeds are medians over the rounds; a ratio is the median of the rounds' paired ratios.
A run is timed twice: the whole `run_extraction` call ("call": what a user waits for, less Python's
start and imports) and its extraction phase ("images": from the first task to the last shard). The ORT
conversion is made once, before the timings, and reported on its own (it is kept in the store and paid
once per configuration); each fresh (d) store gets a copy of it, so (d) still runs the agreement check.
The four are measured in alternation, --rounds times, medians reported: on a shared machine a change of
load then hits them alike. Backbones without weights in ../shared run with random weights.

Usage: python bench/bench_extract.py [--images 256] [--rounds 3]
           [--backbones mobilenet_v2:224,mobilenet:224,resnet50:224,vgg16:150:128]  (name:size[:images])
Needs ../shared (or BOTTLENECK_SHARED). Prints a Markdown table; writes bench/results/extract.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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


def options_for(backbone: str, size: int):
    from extract.options import ExtractOptions

    weights = WEIGHTS.get(backbone)
    return ExtractOptions(backbone, str(weights) if weights and weights.is_file() else "none", size=size, pool="avg")


def base_alone(infer, images, batch: int = 32) -> float:
    infer(images[:batch])  # warm: compilation / session set-up outside the timing
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        infer(images[start:start + batch])
    return len(images) / (time.perf_counter() - started)


def end_to_end(data: Path, store: Path, options, runtime: str, decode_workers: int | None) -> dict:
    from extract import RunOptions, run_extraction

    started = time.perf_counter()
    summary = run_extraction(data, store, options, RunOptions(batch_size=32, runtime=runtime,
                                                              decode_workers=decode_workers))
    call = time.perf_counter() - started
    return {"call": summary.extracted / call, "images": summary.images_per_second, "stages": summary.stages,
            "input": summary.input_path}


def measure(backbone: str, size: int, data: Path, work: Path, rounds: int, decode_workers: int | None) -> dict:
    import numpy as np

    from extract.extractor import Extractor
    from extract.runtimes import get_runtime
    from extract.runtimes.onnx import converted_dir, disagreement
    from store import FeatureStore
    from store.reader import init_store

    options = options_for(backbone, size)
    extractor = Extractor.from_options(options).build()
    started = time.perf_counter()
    ort_infer = get_runtime("onnxruntime").load(extractor, work / "conversion")  # convert + agreement check
    conversion = time.perf_counter() - started
    converted = converted_dir(work / "conversion", extractor.config.config_id)
    tf_infer = get_runtime("tensorflow").load(extractor)
    images = np.random.default_rng(0).uniform(0, 255, (64, size, size, 3)).astype(np.float32)
    rows: dict[str, list] = {"tf_base": [], "ort_base": [], "tf_run": [], "ort_run": []}
    for r in range(rounds):
        rows["tf_base"].append(base_alone(tf_infer, images))
        rows["ort_base"].append(base_alone(ort_infer, images))
        rows["tf_run"].append(end_to_end(data, work / f"tf{r}", options, "tensorflow", None))
        init_store(work / f"ort{r}")
        shutil.copytree(converted, converted_dir(work / f"ort{r}", extractor.config.config_id))
        rows["ort_run"].append(end_to_end(data, work / f"ort{r}", options, "onnxruntime", decode_workers))
        print(f"  round {r + 1}: " + ", ".join(
            f"{k} {v[-1]:.1f}" if isinstance(v[-1], float) else f"{k} {v[-1]['images']:.1f} ({v[-1]['call']:.1f} call)"
            for k, v in rows.items()), flush=True)
    median = statistics.median
    result = {"backbone": backbone, "size": size, "weights": "random" if options.weights == "none" else "../shared",
              "images": sum(1 for _ in data.rglob("*.jpg")), "rounds": rounds, "conversion_s": round(conversion, 2),
              "tf_base": median(rows["tf_base"]), "ort_base": median(rows["ort_base"])}
    for key in ("tf_run", "ort_run"):
        result[key] = median(run["images"] for run in rows[key])
        result[f"{key}_call"] = median(run["call"] for run in rows[key])
        result[f"{key}_stages"] = {stage: median(run["stages"][stage] for run in rows[key])
                                   if all(run["stages"].get(stage) is not None for run in rows[key]) else None
                                   for stage in rows[key][0]["stages"]}
        result[f"{key}_input"] = rows[key][0]["input"]
    # ratios paired round by round (the same load hit both), then the median of the rounds
    result["base_ratio"] = median(o / t for o, t in zip(rows["ort_base"], rows["tf_base"]))
    result["run_ratio"] = median(o["images"] / t["images"] for o, t in zip(rows["ort_run"], rows["tf_run"]))
    result["call_ratio"] = median(o["call"] / t["call"] for o, t in zip(rows["ort_run"], rows["tf_run"]))
    result["tf_run_of_base"] = result["tf_run"] / result["tf_base"]
    result["ort_run_of_base"] = result["ort_run"] / result["ort_base"]
    want, got = FeatureStore(work / "tf0").view().read("train"), FeatureStore(work / "ort0").view().read("train")
    assert got.paths == want.paths
    result["max_rel_diff"] = disagreement(got.features, want.features)
    result["raw"] = rows
    return result


def table(results: list[dict]) -> str:
    lines = ["| base (weights), images | TF base | ORT base | ratio | TF run | ORT run | **ratio** | TF call | "
             "ORT call | ratio | run / base alone TF, ORT | max rel diff | conversion s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['backbone']} @{r['size']} ({r['weights']}), {r['images']} | {r['tf_base']:.1f} | {r['ort_base']:.1f} "
            f"| {r['base_ratio']:.2f}x | {r['tf_run']:.1f} | {r['ort_run']:.1f} | **{r['run_ratio']:.2f}x** "
            f"| {r['tf_run_call']:.1f} | {r['ort_run_call']:.1f} | {r['call_ratio']:.2f}x "
            f"| {r['tf_run_of_base']:.0%}, {r['ort_run_of_base']:.0%} | {r['max_rel_diff']:.2g} | {r['conversion_s']} |")
    return "\n".join(lines)


def stage_table(results: list[dict]) -> str:
    from extract.stages import STAGES

    lines = ["| run | input | " + " | ".join(STAGES) + " |", "|---|---|" + "---|" * len(STAGES)]
    for r in results:
        for key, name in (("tf_run", "TF"), ("ort_run", "ORT")):
            stages = r[f"{key}_stages"]
            cells = [f"{stages[s]:.2f}" if stages.get(s) is not None else "in tf.data" for s in STAGES]
            lines.append(f"| {r['backbone']} @{r['size']} {name} | {r[f'{key}_input']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbones", default="mobilenet_v2:224,mobilenet:224,resnet50:224,vgg16:150:128")
    parser.add_argument("--decode-workers", type=int, default=None, help="for (d); default: the tool's own")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for item in args.backbones.split(","):
            backbone, size, *count = item.split(":")
            images = int(count[0]) if count else args.images
            data = Path(folder) / f"data{images}"
            if not data.exists():
                subset(images, data / "train")
            print(f"{backbone} @{size}, {images} images:", flush=True)
            results.append(measure(backbone, int(size), data, Path(folder) / backbone, args.rounds,
                                   args.decode_workers))
    print(f"\nimages/s, medians of {args.rounds} rounds; load average {os.getloadavg()[0]:.1f} at the end\n")
    print(table(results))
    print("\nseconds per stage (medians; input stages run beside the base):\n")
    print(stage_table(results))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "extract.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
