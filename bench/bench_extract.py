"""Extraction end to end against the base alone, TensorFlow against each converted CPU runtime
(ONNX Runtime, OpenVINO float32; issues 19 and 23):

  (a) TF base alone     (b) each runtime's base alone   -- the same 64 in-memory images, batch 32
  (c) extract run --runtime tensorflow   (d) extract run --runtime <each>  -- the same Dogs vs Cats
      images into fresh stores (scan, model build, decode, resize, base, shard writes)

plus the largest feature difference between (c) and each (d) (relative to the features' scale), the ratio
of each runtime's end-to-end speed to its base alone, and where the time of each run went (extract.stages).
Speeds are medians over the rounds; a ratio is the median of the rounds' paired ratios against TensorFlow.
A run is timed twice: the whole `run_extraction` call ("call": what a user waits for, less Python's
start and imports) and its extraction phase ("run": from the first task to the last shard). Each
conversion is made once, before the timings, and reported on its own (it is kept in the store and paid
once per configuration); each fresh (d) store gets a copy of it, so (d) still runs the agreement check.
All are measured in alternation, --rounds times, medians reported: on a shared machine a change of
load then hits them alike. Backbones without weights in ../shared run with random weights.

Usage: python bench/bench_extract.py [--images 256] [--rounds 3] [--runtimes onnxruntime,openvino]
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


def measure(backbone: str, size: int, data: Path, work: Path, rounds: int, decode_workers: int | None,
            runtimes: list[str]) -> dict:
    """TensorFlow and each converted runtime of `runtimes`: base alone and end to end, in alternation."""
    import numpy as np

    from extract.extractor import Extractor
    from extract.runtimes import get_runtime
    from extract.runtimes.onnx import converted_dir, disagreement
    from store import FeatureStore
    from store.reader import init_store

    options = options_for(backbone, size)
    extractor = Extractor.from_options(options).build()
    infers, conversion, converted = {"tensorflow": get_runtime("tensorflow").load(extractor)}, {}, {}
    for name in runtimes:
        started = time.perf_counter()
        infers[name] = get_runtime(name).load(extractor, work / "conversion")  # convert + agreement check
        conversion[name] = round(time.perf_counter() - started, 2)
        converted[name] = converted_dir(work / "conversion", extractor.config.config_id).parent / name
    images = np.random.default_rng(0).uniform(0, 255, (64, size, size, 3)).astype(np.float32)
    names = list(infers)
    base = {name: [] for name in names}
    run = {name: [] for name in names}
    for r in range(rounds):
        for name in names:
            base[name].append(base_alone(infers[name], images))
        for name in names:
            store = work / f"{name}{r}"
            if name in converted:  # each fresh store gets the conversion: the run still checks it
                init_store(store)
                shutil.copytree(converted[name], converted_dir(store, extractor.config.config_id).parent / name)
            run[name].append(end_to_end(data, store, options, name, None if name == "tensorflow" else decode_workers))
        print(f"  round {r + 1}: " + ", ".join(f"{n} base {base[n][-1]:.1f} run {run[n][-1]['images']:.1f} "
                                                f"(call {run[n][-1]['call']:.1f})" for n in names)
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    median = statistics.median
    result = {"backbone": backbone, "size": size, "weights": "random" if options.weights == "none" else "../shared",
              "images": sum(1 for _ in data.rglob("*.jpg")), "rounds": rounds, "runtimes": names,
              "conversion_s": conversion, "load_end": os.getloadavg()[0]}
    want = FeatureStore(work / "tensorflow0").view().read("train")
    for name in names:
        result[name] = {
            "base": median(base[name]), "run": median(x["images"] for x in run[name]),
            "call": median(x["call"] for x in run[name]),
            "stages": {stage: median(x["stages"][stage] for x in run[name])
                       if all(x["stages"].get(stage) is not None for x in run[name]) else None
                       for stage in run[name][0]["stages"]},
            "input": run[name][0]["input"],
            # ratios paired round by round (the same load hit both), then the median of the rounds
            "base_ratio": median(o / t for o, t in zip(base[name], base["tensorflow"])),
            "run_ratio": median(o["images"] / t["images"] for o, t in zip(run[name], run["tensorflow"])),
            "call_ratio": median(o["call"] / t["call"] for o, t in zip(run[name], run["tensorflow"])),
            "raw": {"base": base[name], "run": run[name]}}
        result[name]["run_of_base"] = result[name]["run"] / result[name]["base"]
        got = FeatureStore(work / f"{name}0").view().read("train")
        assert got.paths == want.paths
        result[name]["max_rel_diff"] = disagreement(got.features, want.features)
    return result


SHORT = {"tensorflow": "TF", "onnxruntime": "ORT", "openvino": "OV"}


def table(results: list[dict]) -> str:
    names = results[0]["runtimes"]
    short = [SHORT.get(n, n) for n in names]
    lines = ["| base (weights), images | " + " | ".join(f"{s} base" for s in short) + " | "
             + " | ".join(f"{s} run" for s in short) + " | " + " | ".join(f"{s} call" for s in short[1:])
             + " | run / base alone | max rel diff | conversion s |",
             "|---|" + "---|" * (3 * len(names) + 2)]
    for r in results:
        def cells(key, ratio=None, first=True):
            return [f"{r[n][key]:.1f}" + (f" ({r[n][ratio]:.2f}x)" if ratio and n != "tensorflow" else "")
                    for n in names if first or n != "tensorflow"]
        lines.append(
            f"| {r['backbone']} @{r['size']} ({r['weights']}), {r['images']} | "
            + " | ".join(cells("base", "base_ratio")) + " | "
            + " | ".join(cells("run", "run_ratio")).replace("(", "**(").replace("x)", "x)**") + " | "
            + " | ".join(cells("call", "call_ratio", first=False)) + " | "
            + ", ".join(f"{r[n]['run_of_base']:.0%}" for n in names) + " | "
            + ", ".join(f"{r[n]['max_rel_diff']:.2g}" for n in names[1:]) + " | "
            + ", ".join(f"{r['conversion_s'][n]}" for n in names[1:]) + " |")
    return "\n".join(lines)


def stage_table(results: list[dict]) -> str:
    from extract.stages import STAGES

    lines = ["| run | input | " + " | ".join(STAGES) + " |", "|---|---|" + "---|" * len(STAGES)]
    for r in results:
        for name in r["runtimes"]:
            stages = r[name]["stages"]
            cells = [f"{stages[s]:.2f}" if stages.get(s) is not None else "in tf.data" for s in STAGES]
            lines.append(f"| {r['backbone']} @{r['size']} {SHORT.get(name, name)} | {r[name]['input']} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbones", default="mobilenet_v2:224,mobilenet:224,resnet50:224,vgg16:150:128")
    parser.add_argument("--decode-workers", type=int, default=None, help="for (d); default: the tool's own")
    parser.add_argument("--runtimes", default="onnxruntime,openvino", help="converted runtimes beside TensorFlow")
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
                                   args.decode_workers, args.runtimes.split(",")))
    print(f"\nimages/s, medians of {args.rounds} rounds; load average {os.getloadavg()[0]:.1f} at the end\n")
    print(table(results))
    print("\nseconds per stage (medians; input stages run beside the base):\n")
    print(stage_table(results))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "extract.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
