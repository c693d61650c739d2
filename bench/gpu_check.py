"""Do the GPU's features match the CPU's? Run this on a machine with a GPU.

The same decoded images go through the same configuration in separate processes:
  cpu          float32 on the CPU (CUDA_VISIBLE_DEVICES=-1): the reference
  gpu          float32 on the GPU (TensorFloat-32 off, as extraction runs it)
  gpu-mixed    --mixed-precision on the GPU (float16 compute; a configuration of its own)
and the script reports, per pair, the largest absolute difference of the features, that
difference relative to the features' scale (their largest magnitude), the lowest per-image
cosine similarity, and the images/s of the base on each device (in-memory images, after a
warm-up batch). It exits 1 when a pair is over its tolerance:
  gpu vs cpu        relative difference <= 1e-3   (the store keeps float16: 4.9e-4 relative rounding)
  gpu-mixed vs cpu  relative difference <= 1e-2   (why mixed precision is its own configuration)
Without a GPU it says so, runs the CPU part only and exits 0 (2 with --require-gpu).
--cpu-mixed also runs the mixed-precision configuration on the CPU (slow; float16 numbers without a
GPU: on 2 CPU cores, VGG16 at 150 px, 8 images, it differed from float32 by 1.1e-3 relative).

Usage: python bench/gpu_check.py [--images 64] [--backbone vgg16] [--size 150]
           [--weights ../shared/weights/vgg16_imagenet_torchvision_notop.h5]
           [--data ../shared/data/dogs_vs_cats] [--batch-size 16] [--require-gpu] [--cpu-mixed]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared"))
TOLERANCE = {"gpu": 1e-3, "gpu-mixed": 1e-2, "cpu-mixed": 1e-2}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def pick_images(data: Path, count: int) -> list[str]:
    """The first files of every class folder, in turn, so both classes are in the sample."""
    folders = sorted({p.parent for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES})
    lists = [sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders]
    picked: list[str] = []
    for row in range(max((len(files) for files in lists), default=0)):
        picked += [str(files[row]) for files in lists if row < len(files)]
    return picked[:count]


def child(mode: str, args: argparse.Namespace, work: Path) -> None:
    """One device: features of the shared images, written to work/<mode>.npy, plus its timing."""
    import numpy as np

    from extract import ExtractOptions, Extractor
    from extract import devices

    if mode == "gpu-mixed":
        os.environ.pop(devices.ALLOW_CPU_MIXED_ENV, None)  # on the GPU, never allowed on a CPU by accident
    if mode == "cpu-mixed":
        os.environ[devices.ALLOW_CPU_MIXED_ENV] = "1"
    extractor = Extractor.from_options(ExtractOptions(
        args.backbone, args.weights, size=args.size, dtype="float32", mixed_precision=mode.endswith("mixed")))
    if mode == "cpu":
        images, _, reasons = extractor.load_images(json.loads((work / "paths.json").read_text()), args.batch_size)
        bad = [r for r in reasons if r]
        if bad:
            raise SystemExit(f"{len(bad)} images could not be decoded, e.g. {bad[0]}")
        np.save(work / "images.npy", images)
    images = np.load(work / "images.npy")
    device = devices.device_label()
    if mode.startswith("gpu") and device == "CPU":
        raise SystemExit(f"{mode}: no GPU visible in this process")
    devices.check_compute_device(extractor.config.compute)
    extractor.features(images[: args.batch_size], args.batch_size)  # build, trace, compile
    started = time.perf_counter()
    features = extractor.features(images, args.batch_size)
    seconds = time.perf_counter() - started
    np.save(work / f"{mode}.npy", features)
    (work / f"{mode}.json").write_text(json.dumps({
        "device": device, "images_per_second": len(images) / seconds, "config_id": extractor.config.config_id}))


def run_child(mode: str, argv: list[str], work: Path) -> dict:
    env = dict(os.environ)
    if mode.startswith("cpu"):
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    result = subprocess.run([sys.executable, __file__, *argv, "--child", mode, "--work", str(work)], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"the {mode} process failed: {tail}")
    return json.loads((work / f"{mode}.json").read_text())


def gpu_visible() -> bool:
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip().splitlines()[-1:] != ["0"]


def compare(reference, other) -> dict:
    import numpy as np

    a, b = reference.reshape(len(reference), -1), other.reshape(len(other), -1)
    scale = max(float(np.abs(a).max()), 1e-12)
    largest = float(np.abs(a - b).max())
    cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {"max_abs": largest, "max_rel": largest / scale, "min_cosine": float(cosine.min()), "scale": scale}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SHARED / "data" / "dogs_vs_cats"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg16_imagenet_torchvision_notop.h5"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--require-gpu", action="store_true", help="exit 2 when no GPU is found")
    parser.add_argument("--cpu-mixed", action="store_true", help="also the mixed-precision configuration on the CPU")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args, Path(args.work))
        return 0
    argv = [a for a in sys.argv[1:] if a not in ("--require-gpu", "--cpu-mixed")]
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as folder:
        work = Path(folder)
        paths = pick_images(Path(args.data), args.images)
        if not paths:
            print(f"No images under {args.data}.")
            return 2
        (work / "paths.json").write_text(json.dumps(paths))
        print(f"{len(paths)} images of {args.data}; {args.backbone} at {args.size} px, weights {args.weights}")
        runs = {"cpu": run_child("cpu", argv, work)}
        if args.cpu_mixed:
            runs["cpu-mixed"] = run_child("cpu-mixed", argv, work)
        has_gpu = gpu_visible()
        if has_gpu:
            runs["gpu"] = run_child("gpu", argv, work)
            runs["gpu-mixed"] = run_child("gpu-mixed", argv, work)
        for mode, info in runs.items():
            print(f"  {mode:10s} {info['device']:40s} {info['images_per_second']:8.1f} images/s   "
                  f"configuration {info['config_id']}")
        reference = np.load(work / "cpu.npy")
        failed = False
        for mode in [m for m in TOLERANCE if m in runs]:
            tolerance = TOLERANCE[mode]
            result = compare(reference, np.load(work / f"{mode}.npy"))
            verdict = "ok" if result["max_rel"] <= tolerance else "OVER TOLERANCE"
            failed |= verdict != "ok"
            print(f"  cpu vs {mode:10s} max |diff| {result['max_abs']:.3g} (features up to {result['scale']:.3g}), "
                  f"relative {result['max_rel']:.2e} (tolerance {tolerance:.0e}), lowest cosine "
                  f"{result['min_cosine']:.6f}: {verdict}")
        if not has_gpu:
            print("NO GPU FOUND: only the CPU part ran; no GPU features were compared. Run this on a machine "
                  "whose TensorFlow sees a GPU (python -c \"import tensorflow as tf; "
                  "print(tf.config.list_physical_devices('GPU'))\").")
            return 2 if args.require_gpu else int(failed)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
