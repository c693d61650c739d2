"""Export one head in every format and measure each: size, time to write (and check), and agreement
with `heads predict` on N validation images of the head's dataset, each format run in its own runtime.

    python bench/bench_export.py --head STORE/heads/dense-... [--images 200] [--formats keras,tflite] [--tta K]
        [--out DIR]

`heads predict` on a stored image uses the store's features (float16); the exported model computes
everything from the image in float32, in its runtime's kernels. The images are decoded and resized as
extraction does it (the configuration's resize mode), as preprocessing.json tells a deployer to. With
`--tta K` the views are inside the exported model and `heads predict --tta K` is the reference. A head
whose configurations have several sizes resizes the smaller inside (the figure is then also in its
preprocessing.json: `inside_model.resized_inside`).
Prints a Markdown table and writes DIR/bench_export.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from heads.artifact import load_head, resolve_head  # noqa: E402
from heads.export import FORMATS, export_head, export_size  # noqa: E402
from heads.formats import FORMATS as WRITERS  # noqa: E402
from heads.predict import predict_images  # noqa: E402
from store import FeatureStore  # noqa: E402


def validation_images(loaded, store: Path, count: int) -> list[Path]:
    """The first `count` validation images of the head's dataset still on disk (index order)."""
    index = FeatureStore(store).dataset(loaded.record["data"]["dataset"])
    rows = [i for i in index.rows("validation")]
    paths = [index.absolute(i) for i in rows]
    return [p for p in paths if p.is_file()][:count]


def directory_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", required=True, help="head folder (or id with --store)")
    parser.add_argument("--store", type=Path, default=None, help="feature store (default: the head's own)")
    parser.add_argument("--images", type=int, default=200, help="validation images to compare (default 200)")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated (default {','.join(FORMATS)})")
    parser.add_argument("--check", type=int, default=8, help="images the export itself checks before writing")
    parser.add_argument("--tta", type=int, default=0, help="test-time views inside the exported model")
    parser.add_argument("--out", type=Path, default=None, help="folder for the exports (default: a temporary one)")
    args = parser.parse_args()

    loaded = load_head(resolve_head(args.head, args.store))
    store = args.store or loaded.store
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_export_"))
    paths = validation_images(loaded, store, args.images)
    started = time.perf_counter()
    predictions = predict_images(loaded.folder, paths, store=args.store, top=len(loaded.columns), tta=args.tta,
                                 keep=False)  # a benchmark leaves the store as it found it
    predict_seconds = time.perf_counter() - started
    expected = np.array([[p.probabilities[p.classes.index(c)] for c in loaded.columns] for p in predictions])
    sources = sorted({p.features for p in predictions})
    size = export_size(loaded)  # the exported model's input: the largest configuration's size and resize mode
    extractor = next(e for e in loaded.inputs.extractors() if int(e.config.size) == size)
    pixels, _, reasons = extractor.load_images([str(p) for p in paths])
    assert not any(reasons), "a validation image could not be read"
    print(f"head {loaded.head_id} ({loaded.kind.name}) on {', '.join(loaded.inputs.ids)}; {len(paths)} validation "
          f"images, heads predict from {'/'.join(sources)} features in {predict_seconds:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)

    rows = []
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        target = out / fmt
        started = time.perf_counter()
        result = export_head(loaded.folder, target, store=args.store, check=args.check, format=fmt, tta=args.tta)
        export_seconds = time.perf_counter() - started
        run = WRITERS[fmt].load(result.path)["float32"]
        run(pixels[:16])  # warm-up: the first call traces or plans; not counted
        started = time.perf_counter()
        got = np.concatenate([np.asarray(run(pixels[i:i + 16]), np.float64) for i in range(0, len(pixels), 16)])
        infer_seconds = time.perf_counter() - started
        difference = np.abs(got - expected)
        rows.append({"format": fmt, "model_bytes": directory_bytes(result.path), "folder_bytes": result.bytes,
                     "convert_seconds": round(result.seconds, 2), "export_seconds": round(export_seconds, 2),
                     "images": len(paths), "max_difference": float(difference.max()),
                     "mean_difference": float(difference.mean()),
                     "top1_agreement": float(np.mean(got.argmax(1) == expected.argmax(1))),
                     "ms_per_image": round(1000 * infer_seconds / max(len(paths), 1), 2), "runtime": result.runtime,
                     "export_check": {"checked": result.checked, "max_difference": result.max_difference,
                                      "agreement": result.agreement, "notes": result.notes},
                     "resized_inside": result.resize_check})
        print(f"  {fmt}: done in {export_seconds:.1f} s", flush=True)

    print("\n| format | model size | export (convert) s | max / mean prob. difference vs heads predict "
          "| top-1 agreement | ms/image (batches of 16, warm) | runtime |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['format']} | {r['model_bytes'] / 1e6:.1f} MB | {r['export_seconds']:.1f} ({r['convert_seconds']:.1f}) "
              f"| {r['max_difference']:.2e} / {r['mean_difference']:.2e} | {r['top1_agreement']:.4f} "
              f"({r['images']} images) | {r['ms_per_image']} | {r['runtime']} |")
    (out / "bench_export.json").write_text(json.dumps({"head": loaded.head_id, "tta": args.tta, "rows": rows,
                                                       "load_average": os.getloadavg()}, indent=2))
    print(f"\nexports and bench_export.json in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
