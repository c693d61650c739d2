"""One GPU check for any machine: every runtime installed (TensorFlow, Keras on JAX, Keras on PyTorch),
on the CPU and on the GPU, the same decoded images, the same configurations.

For each runtime present and each configuration (default: VGG16 at 150 px with ../shared's torchvision
weights, MobileNetV2 at 224 px), one process per runtime and device (KERAS_BACKEND set, the GPU hidden
for the CPU run) reports:
  - the base alone on in-memory images: images/s (after a warm-up batch), its features;
  - `extract run` end to end on real JPEGs into a fresh store (on the runtime's fastest device; where
    fewer photos were staged than asked for, re-encoded mirror/rotation/crop variants of them, which
    decode like the photos):
    images/s, its ratio to the base alone, and where the run waited (the run record's stage timings,
    where the pipeline records them);
  - peak GPU memory.
The parent decodes the images once (Pillow and the NumPy resize: no TensorFlow needed), compares every
run's features with the reference (TensorFlow on the CPU; the first runtime's CPU run without
TensorFlow): largest absolute and relative difference and lowest cosine, against the tolerances
  float32 (CPU or GPU, TF32 off)   relative difference <= 1e-3
  gpu-mixed (--mixed-precision)    relative difference <= 2e-2
and writes OUT/gpu_check.json and OUT/gpu_check.md. Exit 1 when a run is over its tolerance or failed;
without a GPU the CPU part runs and it exits 0 (2 with --require-gpu).

Usage: python bench/gpu_check.py [--out bench/gpu_check_out] [--runtimes tensorflow,jax,torch]
           [--configs backbone:size:weights-file,...]   (default: those of VGG16@150 and MobileNetV2@224
            whose weights are in $BOTTLENECK_SHARED/weights: a device call carries one of the two files)
           [--images 64] [--e2e-images 2000] [--cpu-e2e-images 64] [--batch-size 64] [--cpu-batch-size 16] [--min-seconds 3]
           [--rounds 1] [--no-mixed] [--require-gpu]
(weights are files in $BOTTLENECK_SHARED/weights; the JPEGs are $BOTTLENECK_SHARED/data/dogs_vs_cats)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "bench"))
from gpu_report import compare, jpeg_folder, markdown, pick_images  # noqa: E402

RUNTIMES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}  # runtime -> the module it needs
DEFAULT_CONFIGS = ("vgg16:150:vgg16_imagenet_torchvision_notop.h5,"
                   "mobilenet_v2:224:mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
TOLERANCE = {"float32": 1e-3, "mixed_float16": 2e-2}


def installed(module: str) -> bool:
    """Found (not imported); a broken or hidden package counts as absent."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def parse_configs(text: str, weights_dir: Path) -> list[dict]:
    configs = []
    for item in filter(None, text.split(",")):
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[1].isdigit():
            raise SystemExit(f"--configs takes backbone:size[:weights file], comma-separated. Received: {item}")
        weights = str(weights_dir / parts[2]) if len(parts) == 3 else "none"
        configs.append({"backbone": parts[0], "size": int(parts[1]), "weights": weights, "name": f"{parts[0]}@{parts[1]}"})
    return configs


# --- the child: one runtime on one device ------------------------------------------------------------
def peak_gpu_bytes(backend: str) -> int | None:
    try:
        if backend == "jax":
            import jax

            return int(jax.local_devices()[0].memory_stats().get("peak_bytes_in_use", 0)) or None
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:  # no GPU, or a backend without memory statistics for it
        return None


def child(job: dict) -> dict:
    import numpy as np

    from extract import ExtractOptions, Extractor, RunOptions, devices, run_extraction
    from store.layout import StoreLayout
    from store.runs import latest_run_record

    backend, mode, work = job["runtime"], job["mode"], Path(job["work"])
    label = devices.device_label()
    if mode != "cpu" and label == "CPU":
        return {"skipped": f"no GPU visible to Keras on {backend}"}
    if mode == "gpu-probe":
        return {"device": label}
    batch = job["batch_size"]
    out = {"device": label, "versions": devices.backend_versions(), "configs": {}}
    for config in job["configs"]:
        options = ExtractOptions(config["backbone"], config["weights"], size=config["size"], dtype="float32",
                                 mixed_precision=mode == "gpu-mixed")
        extractor = Extractor.from_options(options, runtime=backend)
        images = np.load(work / f"{config['name']}.images.npy")
        started = time.perf_counter()
        extractor.features(images[:batch], batch)  # build, trace, compile
        warm = time.perf_counter() - started
        passes, started = 0, time.perf_counter()
        while True:
            features = extractor.features(images, batch)
            passes += 1
            if time.perf_counter() - started >= job["min_seconds"]:
                break
        seconds = time.perf_counter() - started
        np.save(work / f"{config['name']}.{backend}.{mode}.npy", features)
        result = {"config_id": extractor.config.config_id, "compute": extractor.config.compute,
                  "warm_up_seconds": round(warm, 2), "base_images_per_second": passes * len(images) / seconds}
        if job["e2e"]:
            store = work / f"store-{backend}-{mode}-{config['name']}"
            try:
                summary = run_extraction(job["data"], store, extractor, RunOptions(batch_size=batch, runtime=backend))
            except Exception as error:  # e.g. an input pipeline that needs TensorFlow where there is none
                result["e2e_failed"] = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
            else:
                stats = latest_run_record(StoreLayout(store), extractor.config.config_id).stats
                result.update({"e2e_images": summary.extracted, "e2e_images_per_second": summary.images_per_second,
                               "e2e_waits": {k: v for k, v in stats.items() if "stage" in k or "wait" in k},
                               "runtime_check": stats.get("runtime_check")})
            shutil.rmtree(store, ignore_errors=True)
        out["configs"][config["name"]] = result
    out["peak_gpu_bytes"] = peak_gpu_bytes(backend) if mode != "cpu" else None
    return out


# --- the parent ---------------------------------------------------------------------------------------
def run_child(job: dict, timeout: float) -> dict:
    env = {**os.environ, "KERAS_BACKEND": job["runtime"],
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if job["mode"] == "cpu":
        env.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    try:
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": f"over {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"failed": tail[:300]}
    return json.loads(lines[-1])


def median_of_rounds(results: list[dict]) -> dict:
    """The first round's result with each speed the median over the rounds (each round's kept beside it)."""
    import statistics

    first = next((r for r in results if "configs" in r), results[0])
    for name, result in first.get("configs", {}).items():
        for speed in ("base_images_per_second", "e2e_images_per_second"):
            values = [r["configs"][name][speed] for r in results if speed in r.get("configs", {}).get(name, {})]
            if values:
                result[speed], result[f"{speed}_rounds"] = statistics.median(values), values
    if any("failed" in r for r in results):
        first = {**first, "failed": next(r["failed"] for r in results if "failed" in r)}
    return first


def decode_images(paths: list[str], size: int):
    """Decoded and resized as extraction does it (Pillow, the NumPy antialiased resize)."""
    import numpy as np

    from extract.decode import read_and_decode
    from extract.resize_weights import resize_image

    images = []
    for path in paths:
        image, _, reason = read_and_decode(path)
        if image is None:
            raise SystemExit(f"cannot decode {path}: {reason}")
        images.append(resize_image(image.astype(np.float32), size, "squash"))
    return np.stack(images).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "bench" / "gpu_check_out"))
    parser.add_argument("--data", default=str(SHARED / "data" / "dogs_vs_cats"))
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--configs", default="")
    parser.add_argument("--images", type=int, default=64, help="images for the base alone and the comparison")
    parser.add_argument("--e2e-images", type=int, default=2000, help="JPEGs for extract run end to end on a GPU")
    parser.add_argument("--cpu-e2e-images", type=int, default=64, help="... on a CPU (where no GPU is found)")
    parser.add_argument("--batch-size", type=int, default=64, help="on a GPU")
    parser.add_argument("--cpu-batch-size", type=int, default=16)
    parser.add_argument("--min-seconds", type=float, default=3.0, help="time the base alone for this long at least")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per runtime and device")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the runtimes this often; medians")
    parser.add_argument("--no-mixed", action="store_true", help="skip --mixed-precision on the GPU")
    parser.add_argument("--require-gpu", action="store_true", help="exit 2 when no runtime finds a GPU")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    wanted = [name for name in filter(None, args.runtimes.split(","))]
    unknown = [name for name in wanted if name not in RUNTIMES]
    if unknown:
        raise SystemExit(f"Unknown runtime {unknown[0]!r}. Allowed: {', '.join(RUNTIMES)}")
    present = [name for name in wanted if installed(RUNTIMES[name])]
    absent = [name for name in wanted if name not in present]
    configs = parse_configs(args.configs or DEFAULT_CONFIGS, SHARED / "weights")
    missing = [c["weights"] for c in configs if c["weights"] != "none" and not Path(c["weights"]).is_file()]
    if not args.configs:  # the defaults whose weights are here (a device call carries one file: 64 MiB)
        configs = [c for c in configs if c["weights"] not in missing]
        missing = [] if configs else missing
    if missing or not present:
        raise SystemExit(f"Nothing to check: weights not found: {missing}" if missing else
                         f"None of {', '.join(wanted)} is installed.")
    paths = pick_images(Path(args.data), max(args.images, args.e2e_images, args.cpu_e2e_images))
    if not paths:
        raise SystemExit(f"No images under {args.data}.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as folder:
        work = Path(folder)
        for config in configs:
            np.save(work / f"{config['name']}.images.npy", decode_images(paths[:args.images], config["size"]))
        print(f"{len(paths[:args.images])} images for the base, {args.e2e_images} JPEGs end to end on a GPU "
              f"({args.cpu_e2e_images} on a CPU); runtimes {', '.join(present)}"
              + (f" (not installed: {', '.join(absent)})" if absent else ""))
        common = {"work": str(work), "configs": configs, "min_seconds": args.min_seconds}
        gpus = {name: run_child({**common, "runtime": name, "mode": "gpu-probe", "batch_size": 1, "e2e": False},
                                args.timeout) for name in present}
        for count in {args.e2e_images if "device" in probe else args.cpu_e2e_images for probe in gpus.values()}:
            jpeg_folder(paths, count, work / f"data-{count}" / "train")  # one folder per class, as extract reads them
        rounds: dict[str, list[dict]] = {}
        for round_number in range(args.rounds):  # runtimes in turn, round after round: paired under a shared load
            for name in present:
                has_gpu = "device" in gpus[name]
                modes = ["cpu"] + (["gpu"] + ([] if args.no_mixed else ["gpu-mixed"]) if has_gpu else [])
                for mode in modes:
                    job = {**common, "runtime": name, "mode": mode, "e2e": mode == ("gpu" if has_gpu else "cpu"),
                           "batch_size": args.cpu_batch_size if mode == "cpu" else args.batch_size,
                           "data": str(work / f"data-{args.e2e_images if has_gpu else args.cpu_e2e_images}")}
                    result = run_child(job, args.timeout)
                    rounds.setdefault(f"{name}/{mode}", []).append(result)
                    print(f"  round {round_number + 1}: {name}/{mode}: {result.get('failed') or result.get('device')}",
                          flush=True)
        runs = {key: median_of_rounds(results) for key, results in rounds.items()}
        any_gpu = any("device" in probe for probe in gpus.values())
        reference_key = "tensorflow/cpu" if "tensorflow/cpu" in runs else f"{present[0]}/cpu"
        failed = False
        for key, run in runs.items():
            failed |= "failed" in run
            for config in configs:
                result = run.get("configs", {}).get(config["name"])
                if result is None or reference_key not in runs or "configs" not in runs[reference_key]:
                    continue
                runtime, mode = key.split("/")
                want = np.load(work / f"{config['name']}.{reference_key.replace('/', '.')}.npy")
                got = np.load(work / f"{config['name']}.{runtime}.{mode}.npy")
                result.update(compare(want, got))
                result["tolerance"] = TOLERANCE[result["compute"]]
                result["ok"] = result["max_rel"] <= result["tolerance"]
                failed |= not result["ok"]
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reference": reference_key,
              "gpu_probes": gpus, "not_installed": absent, "runs": runs, "configs": configs,
              "images": min(args.images, len(paths)), "e2e_images": args.e2e_images if any_gpu else args.cpu_e2e_images,
              "real_jpegs": len(paths), "rounds": args.rounds}
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_check.md").write_text(markdown(report))
    print((out / "gpu_check.md").read_text())
    if not any_gpu:
        print("NO GPU FOUND: only the CPU runs were made. " + "; ".join(f"{n}: {p.get('skipped') or p.get('failed')}"
                                                                       for n, p in gpus.items()))
        return 2 if args.require_gpu else int(failed)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
