"""Does the runtime change what a head learns? (issue 19) Dogs vs Cats validation accuracy of a logreg
head on ONNX Runtime features against the same head on TensorFlow features, same rows.

The whole Dogs vs Cats split (train 2000, validation 800) is extracted twice into fresh stores, by
`extract run --runtime tensorflow` and `--runtime onnxruntime` (MobileNetV2 @224 with the landed
weights, average pooling), one after the other in this process; a logreg head with its default
parameters (nothing chosen on validation) is fitted on each store's train rows and scored on its
validation rows. Reported: both accuracies, how many validation images the two heads label
differently, the largest feature difference relative to the features' scale, and the two
extraction times (paired: the same machine, minutes apart; a ratio, not a speed figure).

With --quantize int8 a third store is extracted with the int8 base (`--quantize int8`,
extract.runtimes.int8: its own configuration, calibrated on 64 train images) and scored the same
way; its extraction time includes the quantisation.

Usage: python bench/bench_runtime_accuracy.py [--backbone mobilenet_v2:224] [--quantize int8]
Needs ../shared (or BOTTLENECK_SHARED). Writes bench/results/runtime_accuracy.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_extract import REPO, SHARED, WEIGHTS  # noqa: E402


def extract(data: Path, store: Path, options, runtime: str, quantize: str | None = None) -> tuple[float, str]:
    import dataclasses

    from extract import RunOptions, run_extraction

    started = time.perf_counter()
    summary = run_extraction(data, store, dataclasses.replace(options, quantize=quantize),
                             RunOptions(batch_size=32, runtime=runtime))
    seconds = time.perf_counter() - started
    assert summary.extracted == 2800 and not summary.rejected, (summary.extracted, summary.rejected[:3])
    return seconds, summary.config.config_id


def score(store: Path, config_id: str):
    """(validation accuracy, validation labels predicted, train features, validation features)."""
    import numpy as np

    from heads.kinds.registry import make_head
    from store import FeatureStore

    view = FeatureStore(store).view(config_id)
    train, validation = view.read("train"), view.read("validation")
    head = make_head("logreg", {}, seed=0).fit(train.features.astype(np.float32), train.labels)
    predicted = head.predict(validation.features.astype(np.float32))
    return float((predicted == validation.labels).mean()), predicted, train, validation


def main() -> None:
    import numpy as np

    from extract import ExtractOptions
    from extract.runtimes.onnx import disagreement

    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="mobilenet_v2:224")
    parser.add_argument("--quantize", choices=["int8"], default=None)
    args = parser.parse_args()
    backbone, size = args.backbone.split(":")
    options = ExtractOptions(backbone, str(WEIGHTS[backbone]), size=int(size), pool="avg")
    data = SHARED / "data" / "dogs_vs_cats"
    # (label, --runtime, --quantize): an int8 configuration runs its own OpenVINO base whatever --runtime says
    runs = [("tensorflow", "tensorflow", None), ("onnxruntime", "onnxruntime", None)] + \
        ([(f"openvino {args.quantize}", "tensorflow", args.quantize)] if args.quantize else [])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, runtime, quantize in runs:
            store = Path(folder) / name.replace(" ", "-")
            seconds, config_id = extract(data, store, options, runtime, quantize)
            accuracy, predicted, train, validation = score(store, config_id)
            results[name] = {"config_id": config_id, "extract_s": round(seconds, 1), "accuracy": accuracy,
                             "predicted": predicted, "train": train, "validation": validation}
            print(f"{name}: {seconds:.1f} s extraction, validation accuracy {accuracy:.4f}", flush=True)
    reference = results["tensorflow"]
    rows = []
    for name, result in results.items():
        assert result["validation"].hashes == reference["validation"].hashes, "the same rows"
        want = np.concatenate([reference["train"].features, reference["validation"].features]).astype(np.float32)
        got = np.concatenate([result["train"].features, result["validation"].features]).astype(np.float32)
        cosine = (want * got).sum(1) / (np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1))
        rows.append({"runtime": name, "config_id": result["config_id"], "extract_s": result["extract_s"],
                     "extract_ratio": round(reference["extract_s"] / result["extract_s"], 2),
                     "validation_accuracy": round(result["accuracy"], 4),
                     "labels_differing": int((result["predicted"] != reference["predicted"]).sum()),
                     "max_rel_diff": float(f"{disagreement(got, want):.2g}"),
                     "min_cosine": round(float(cosine.min()), 5)})
    print(f"| {backbone} @{size}, avg pool | extraction s | speed vs TF | validation accuracy (800) "
          f"| labels differing | max rel feature diff | min cosine |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runtime']} | {r['extract_s']} | {r['extract_ratio']}x | {r['validation_accuracy']:.4f} | "
              f"{r['labels_differing']} | {r['max_rel_diff']} | {r['min_cosine']} |")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "runtime_accuracy.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
