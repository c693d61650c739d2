"""Benchmark: `heads finetune --path cached` against `--path full`, same head, data and settings.

Both start from the same dense head, reopen the same blocks, and train the same number of
epochs (no early stopping: --patience 0) with the same seed, batch size and SGD settings:
  cached  activations at the cut extracted once (plain + K augmented views of each train image)
          into a store (a fresh temporary one by default, so the extraction is measured too);
          each epoch trains the reopened blocks and the head on them;
  full    each epoch runs the whole base on every train image, augmented online by Keras layers.
An epoch is timed from its first train step to the end of its validation pass, on both paths.
Each path runs in its own process (clean TensorFlow state, its own peak memory).

    python bench/bench_finetune.py --head /work/ft150/heads/dense-... \\
        --data ../shared/data/dogs_vs_cats --epochs 5 --views 5 [--store STORE] [--json bench/results/finetune.json]

Done when: cached at least 3x faster per epoch, and its validation accuracy after the same
epochs within one point of the full path's.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_path(options: dict, result_file: str) -> None:
    """One path, in a child process: fine-tune, then write its figures as JSON."""
    from heads.finetune.run import finetune_head

    started = time.perf_counter()
    result = finetune_head(**options, on_epoch=lambda epoch, logs: print(
        f"  {options['path']} epoch {epoch}: loss {logs['loss']:.4f}", flush=True))
    ft = result.record["finetune"]
    figures = {
        "path": options["path"], "head_id": result.head_id, "folder": str(result.folder),
        "wall_seconds": time.perf_counter() - started, "epoch_seconds": ft["epoch_seconds"],
        "median_epoch_seconds": statistics.median(ft["epoch_seconds"]),
        "prepare_seconds": ft["prepare_seconds"], "extract_seconds": ft["extract_seconds"],
        "fit_seconds": ft["fit_seconds"], "score_seconds": ft["score_seconds"],
        "validation_accuracy": result.record["metrics"]["validation"]["accuracy"],
        "validation_log_loss": result.record["metrics"]["validation"]["log_loss"],
        "train_accuracy": result.record["metrics"]["train"]["accuracy"],
        "history_validation_accuracy": json.loads((result.folder / "history.json").read_text()).get("monitor_accuracy"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(result_file).write_text(json.dumps(figures))


def fresh_store(head: Path, target: Path) -> Path:
    """A store holding only what the starting head needs (its dataset, its configuration, the head), so the
    cached path's extraction at the cut is measured; returns the head's folder in it."""
    import shutil

    from heads import load_head

    loaded = load_head(head)
    source = loaded.store
    target.mkdir(parents=True)
    shutil.copy2(source / "store.json", target / "store.json")
    shutil.copytree(source / "datasets", target / "datasets")
    for config_id in loaded.inputs.ids:
        shutil.copytree(source / "configs" / config_id, target / "configs" / config_id)
    shutil.copytree(head, target / "heads" / head.name)
    return target / "heads" / head.name


def in_child(options: dict, scratch: Path) -> dict:
    result_file = scratch / f"{options['path']}.json"
    child = multiprocessing.get_context("spawn").Process(target=run_path, args=(options, str(result_file)))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the {options['path']} path failed (exit code {child.exitcode})")
    return json.loads(result_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", required=True, help="dense head folder")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--store", type=Path, default=None,
                        help="store for the cut activations [a fresh temporary one: extraction measured]")
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_finetune_") as scratch:
        scratch = Path(scratch)
        common = {"head": args.head, "data": args.data, "blocks": args.blocks, "epochs": args.epochs,
                  "batch_size": args.batch_size, "learning_rate": args.learning_rate, "patience": 0,
                  "seed": args.seed}
        if args.store is None:
            common["head"] = fresh_store(Path(args.head), scratch / "store")
        store = args.store or scratch / "store"
        print(f"cached path: {args.views} views, store {store}", flush=True)
        cached = in_child({**common, "path": "cached", "views": args.views, "store": store,
                           "out": scratch / "cached"}, scratch)
        print("full path: online augmentation", flush=True)
        full = in_child({**common, "path": "full", "store": store, "out": scratch / "full"}, scratch)

    speedup = full["median_epoch_seconds"] / cached["median_epoch_seconds"]
    gap = 100 * (cached["validation_accuracy"] - full["validation_accuracy"])
    cached_total = (cached["extract_seconds"] or 0) + sum(cached["epoch_seconds"])
    verdict = speedup >= 3 and abs(gap) <= 1.0
    for row in (cached, full):
        print(f"{row['path']:6s}: {row['median_epoch_seconds']:7.1f} s per epoch (median; "
              f"{', '.join(f'{s:.0f}' for s in row['epoch_seconds'])}), preparing {row['prepare_seconds']:.0f} s, "
              f"validation accuracy {row['validation_accuracy']:.4f} after {args.epochs} epochs, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB, wall {row['wall_seconds']:.0f} s")
    print(f"per epoch: cached {speedup:.1f}x faster (target >= 3x); validation accuracy {gap:+.2f} points "
          f"(target within 1): {'PASS' if verdict else 'FAIL'}")
    print(f"extraction included: cached {cached_total:.0f} s (extract {cached['extract_seconds'] or 0:.0f} s + "
          f"{args.epochs} epochs) against full {sum(full['epoch_seconds']):.0f} s for the same epochs")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": vars(args) | {"head": args.head, "data": str(args.data),
                                                                    "store": str(args.store), "json": str(args.json)},
                                         "cached": cached, "full": full, "speedup_per_epoch": speedup,
                                         "accuracy_points": gap, "pass": verdict}, indent=2))


if __name__ == "__main__":
    main()
