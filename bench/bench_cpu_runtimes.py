"""The frozen base alone on this CPU, every float32 runtime and tuning in one process (issue 19):

  tf            TensorFlow as the tool runs it (extract.runtimes.tensorflow: one tf.function, XLA per backbone)
  ort_tool      ONNX Runtime as the tool runs it (extract.runtimes.onnx: intra-op threads = cores - decoders,
                no spinning)
  ort_default   ONNX Runtime, default SessionOptions (all cores, spinning on, ORT_ENABLE_ALL)
  ort_tuned     ORT_ENABLE_ALL, intra-op threads = all cores, spinning on, denormals as zero, sequential
  ort_1t        the same with one intra-op thread
  ort_nchw      ort_tuned's options, on a model exported with NCHW input (tf2onnx inputs_as_nchw: one transpose less)
  ov_latency    OpenVINO float32 (INFERENCE_PRECISION_HINT f32) from the same ONNX file, PERFORMANCE_HINT
                LATENCY, one synchronous request per batch
  ov_throughput the same, PERFORMANCE_HINT THROUGHPUT: the batch split over the plugin's streams, async
  ov_1t         ov_latency with one inference thread
  ov_keras      OpenVINO float32 converted from the Keras model itself (TensorFlow frontend), LATENCY
  ov_keras_throughput  the same, THROUGHPUT

Each variant runs the same in-memory batch (uniform 0..255, --batch images); every round runs that batch
once on each variant in turn (order rotated), --rounds times, and every ratio is the median of the rounds'
paired ratios against `tf` (the machine is shared: a change of load then hits them alike). Each variant's features are compared
with TensorFlow's (max |x - tf| / max |tf|, the runtimes' tolerance is 1e-3).

Usage: python bench/bench_cpu_runtimes.py [--backbones mobilenet_v2:224,vgg16:150] [--batch 32]
           [--rounds 20] [--variants tf,ort_tool,...]
Needs ../shared (or BOTTLENECK_SHARED) for the weights. Prints a Markdown table; writes
bench/results/cpu_runtimes.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

VARIANTS = ("tf", "ort_tool", "ort_default", "ort_tuned", "ort_1t", "ort_nchw", "ov_latency", "ov_throughput", "ov_1t",
            "ov_keras", "ov_keras_throughput")


def ort_session(path: Path, tuned: bool, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if tuned:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def ov_compiled(model, hint: str, threads: int | None = None):
    import openvino as ov

    config = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(model, "CPU", config)
    if hint == "LATENCY":
        request = compiled.create_infer_request()
        return lambda images: request.infer([images])[0].copy()
    import numpy as np

    streams = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(compiled, streams)
    results: dict[int, np.ndarray] = {}
    queue.set_callback(lambda request, index: results.__setitem__(index, request.get_output_tensor(0).data.copy()))

    def infer(images):
        results.clear()
        chunks = np.array_split(images, streams)
        for index, chunk in enumerate(chunks):
            if len(chunk):
                queue.start_async([np.ascontiguousarray(chunk)], index)
        queue.wait_all()
        return np.concatenate([results[i] for i in sorted(results)])

    infer.streams = streams
    return infer


def build(backbone: str, size: int, variants, folder: Path) -> tuple[dict, dict]:
    """name -> infer, and name -> notes (set-up seconds)."""
    import tensorflow as tf

    from bench_extract import options_for
    from extract.extractor import Extractor
    from extract.runtimes import get_runtime
    from extract.runtimes.onnx import convert

    extractor = Extractor.from_options(options_for(backbone, size)).build()
    infers, notes = {}, {}
    onnx_path = folder / f"{backbone}{size}.onnx"
    started = time.perf_counter()
    convert(extractor, onnx_path)
    notes["conversion_s"] = round(time.perf_counter() - started, 2)
    for name in variants:
        started = time.perf_counter()
        if name == "tf":
            infers[name] = get_runtime("tensorflow").load(extractor)
        elif name == "ort_tool":
            from extract.runtimes.onnx import OnnxRuntime

            session = OnnxRuntime._session(onnx_path)
            infers[name] = lambda images, s=session: s.run(None, {"image": images})[0]
        elif name in ("ort_default", "ort_tuned", "ort_1t"):
            infers[name] = ort_session(onnx_path, tuned=name != "ort_default", threads=1 if name == "ort_1t" else None)
        elif name == "ort_nchw":
            import tf2onnx

            spec = [tf.TensorSpec([None, size, size, 3], tf.float32, name="image")]
            nchw = folder / f"{backbone}{size}-nchw.onnx"

            @tf.function(input_signature=spec)
            def features(image):
                return extractor.model(image, training=False)

            tf2onnx.convert.from_function(features, input_signature=spec, opset=17, inputs_as_nchw=["image"],
                                          output_path=str(nchw))
            run = ort_session(nchw, tuned=True)
            infers[name] = lambda images, r=run: r(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        elif name in ("ov_latency", "ov_throughput", "ov_1t"):
            import openvino as ov

            hint = "THROUGHPUT" if name == "ov_throughput" else "LATENCY"
            infers[name] = ov_compiled(ov.convert_model(str(onnx_path)), hint, threads=1 if name == "ov_1t" else None)
        elif name in ("ov_keras", "ov_keras_throughput"):
            import openvino as ov

            saved = folder / f"{backbone}{size}-{name}"
            extractor.model.export(str(saved), format="tf_saved_model", verbose=False,
                                   input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="image")])
            infers[name] = ov_compiled(ov.convert_model(str(saved)), "THROUGHPUT" if name.endswith("t") else "LATENCY")
        notes[f"{name}_setup_s"] = round(time.perf_counter() - started, 2)
    return infers, notes


def batch_speed(infer, images) -> float:
    started = time.perf_counter()
    infer(images)
    return len(images) / (time.perf_counter() - started)


def measure(backbone: str, size: int, variants, batch: int, rounds: int, folder: Path) -> dict:
    """Interleaved at the finest grain: each round runs one batch on every variant in turn (the order
    rotated each round), so a change of load hits all of them alike; medians and best of the rounds."""
    infers, notes = build(backbone, size, variants, folder)
    images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    from extract.runtimes.onnx import disagreement

    want = np.asarray(infers["tf"](images), np.float32)
    diff = {name: disagreement(np.asarray(infer(images), np.float32).reshape(want.shape), want)
            for name, infer in infers.items()}  # also the warm-up
    for infer in infers.values():
        infer(images)
    names = list(infers)
    rows = {name: [] for name in names}
    loads = []
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            rows[name].append(batch_speed(infers[name], images))
        loads.append(os.getloadavg()[0])
        if (r + 1) % 5 == 0:
            print(f"  rounds {r + 1}: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in rows.items())
                  + f" (load {loads[-1]:.1f})", flush=True)
    median = statistics.median
    return {"backbone": backbone, "size": size, "batch": batch, "rounds": rounds, **notes,
            "speed": {k: median(v) for k, v in rows.items()}, "best": {k: max(v) for k, v in rows.items()},
            "ratio": {k: median(a / b for a, b in zip(v, rows["tf"])) for k, v in rows.items()},
            "max_rel_diff": diff, "raw": rows, "load": [min(loads), max(loads)]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="mobilenet_v2:224,vgg16:150")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    variants = ["tf", *[v for v in args.variants.split(",") if v != "tf"]]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for item in args.backbones.split(","):
            backbone, size = item.split(":")
            print(f"{backbone} @{size}, batch {args.batch}:", flush=True)
            results.append(measure(backbone, int(size), variants, args.batch, args.rounds, Path(folder)))
    print(f"\nimages/s per batch, median (best) of {args.rounds} rounds; ratio: median of the paired ratios to "
          f"tf; max |x - tf| / max |tf|\n")
    print("| base | batch | " + " | ".join(variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    for r in results:
        cells = [f"{r['speed'][v]:.1f} ({r['best'][v]:.0f}) **{r['ratio'][v]:.2f}x** {r['max_rel_diff'][v]:.1g}"
                 for v in variants]
        print(f"| {r['backbone']} @{r['size']}, load {r['load'][0]:.1f}-{r['load'][1]:.1f} | {r['batch']} | "
              + " | ".join(cells) + " |")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cpu_runtimes.json").write_text(json.dumps(results, indent=1))




if __name__ == "__main__":
    main()
