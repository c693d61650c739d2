"""Does XLA help a backbone on this machine? Images/s of the feature model with and without
jit_compile, on in-memory tensors (compile time reported separately).

Usage: python bench/bench_xla.py [--size 128] [--batch-size 16] [--steps 6] [--backbones vgg16,...]
The registry's `xla_on_cpu` flags come from this measurement.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(backbone: str, size: int, batch: int, steps: int, xla: bool) -> tuple[float, float]:
    import numpy as np

    from extract.extractor import Extractor, compile_inference
    from extract.options import ExtractOptions

    options = ExtractOptions(backbone, "none", size=max(size, 75 if backbone in ("inception_v3", "xception") else size))
    configured = Extractor.from_options(options).build()
    infer = compile_inference(configured.model, xla)
    s = configured.config.size
    data = np.random.default_rng(0).uniform(0, 255, (batch, s, s, 3)).astype("float32")
    started = time.perf_counter()
    infer(data).numpy()
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        infer(data).numpy()
    return steps * batch / (time.perf_counter() - started), compile_seconds


def main() -> None:
    from extract.backbones import BACKBONES

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    args = parser.parse_args()
    print(f"{'backbone':16} {'plain img/s':>12} {'xla img/s':>10} {'xla/plain':>9} {'xla compile s':>14}")
    for name in args.backbones.split(","):
        plain, _ = measure(name, args.size, args.batch_size, args.steps, False)
        xla, compile_seconds = measure(name, args.size, args.batch_size, args.steps, True)
        print(f"{name:16} {plain:12.1f} {xla:10.1f} {xla / plain:9.2f} {compile_seconds:14.1f}", flush=True)


if __name__ == "__main__":
    main()
