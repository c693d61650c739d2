"""Benchmark: how far combining backbones, test-time views and heads goes, with every choice made on train.

For each combination of the store's plain configurations (single backbones, pairs, ...), a logistic
regression head whose C is searched by 5-fold CV on the train split (`heads fit --config A --config B
--kind logreg --search`); each again with K test-time views (accuracy by the same CV on train, the
head refitted per fold: heads.tta.cross_validated; on validation: `heads eval --tta K`); ensembles
of the single-backbone heads (mean and stacked: out-of-fold probabilities of train); `--kind auto`
on the best combination; and, when a fine-tuned head is given, it alone, with test-time views, and
averaged with the best single-backbone head by CV (`heads ensemble`). Each row: CV accuracy on the
train split (the only figure any choice is made on), validation accuracy, fit and extraction seconds.
The row chosen is the best by CV on train; its validation figure is the honest one.

    python bench/bench_accuracy.py --store /work/stores/dvc --dataset dogs_vs_cats --tta 1 \\
        [--config ID ...] [--finetuned HEAD] [--json bench/results/bench_accuracy.json]

Heads are written to a scratch folder (the store's heads list is left alone); test-time views are
cached in the store as configurations of their own (`extract run --tta K` would make the same).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from extract import run_tta  # noqa: E402
from heads.artifact import load_head  # noqa: E402
from heads.ensemble import ensemble_heads  # noqa: E402
from heads.evaluate import eval_head  # noqa: E402
from heads.fit import fit_head  # noqa: E402
from heads.tta import cross_validated, view_inputs  # noqa: E402
from store import FeatureStore  # noqa: E402


def extraction_seconds(store: Path, config_id: str) -> float:
    """Seconds the store's runs of a configuration spent extracting (runs that extracted anything)."""
    total = 0.0
    for path in sorted((store / "configs" / config_id / "runs").glob("run-*.json")):
        stats = json.loads(path.read_text())["stats"]
        if stats.get("extracted"):
            total += float(stats.get("seconds", 0.0))
    return total


def plain_configs(store: FeatureStore, dataset: str) -> list[str]:
    """Configurations without augmentation holding features of both the train and validation splits."""
    found = []
    for config in store.configs():
        if config.augment:
            continue
        counts = store.view(config.config_id, dataset).split_counts()
        if counts.get("train") and counts.get("validation"):
            found.append(config.config_id)
    return found


class Features:
    """Each configuration's train features read once (as stored, float16), for the TTA cross-validation."""

    def __init__(self, store: FeatureStore, dataset: str, hashes: list[str]):
        self.store, self.dataset, self.hashes, self.cache = store, dataset, hashes, {}

    def parts(self, configs) -> list[np.ndarray]:
        for config in configs:
            if config.config_id not in self.cache:
                self.cache[config.config_id] = self.store.view(config.config_id).features_for(self.hashes)
        return [self.cache[c.config_id] for c in configs]


def label(ids: list[str]) -> str:
    return " + ".join(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--config", action="append", default=None, help="plain configurations (default: all)")
    parser.add_argument("--tta", type=int, default=1, help="test-time views")
    parser.add_argument("--max-size", type=int, default=4, help="most configurations in one combination")
    parser.add_argument("--finetuned", default=None, help="a fine-tuned head of the store (id or folder)")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    store = FeatureStore(args.store)
    index = store.dataset(args.dataset)
    configs = args.config or plain_configs(store, index.name)
    seconds = {c: extraction_seconds(args.store, c) for c in configs}
    print(f"configurations: {', '.join(f'{c} ({seconds[c]:.0f} s extracting)' for c in configs)}", flush=True)
    if args.tta:
        for config_id in configs:  # the views of every split, cached once (what `extract run --tta` does)
            started = time.perf_counter()
            summaries = run_tta(args.tta, index, args.store, store.view(config_id).config)
            print(f"test-time views of {config_id}: {', '.join(s.config.config_id for s in summaries[1:])} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    rows: list[dict] = []
    train_hashes: list[str] | None = None
    with tempfile.TemporaryDirectory() as scratch:
        heads: dict[tuple[str, ...], Path] = {}
        for size in range(1, min(args.max_size, len(configs)) + 1):
            for combo in itertools.combinations(configs, size):
                result = fit_head(args.store, "logreg", config=list(combo), dataset=index.name, search=True,
                                  cv=args.cv, out=Path(scratch) / f"logreg-{len(heads)}")
                heads[combo] = result.folder
                record = result.record
                extraction = sum(seconds[c] for c in combo)
                rows.append({"combination": label(list(combo)),
                             "head": f"logreg, C {record['search']['best_params']['clf__C']:g} by CV",
                             "tta": 0, "cv_accuracy": record["search"]["best_cv_accuracy"],
                             "validation_accuracy": record["metrics"]["validation"]["accuracy"],
                             "fit_seconds": record["fit_seconds"], "extraction_seconds": extraction,
                             "reduce": record["reduce"]})
                print(json.dumps(rows[-1]), flush=True)
                if not args.tta:
                    continue
                loaded = load_head(result.folder)
                head_train = list(json_rows(result.folder, "train"))
                if head_train != train_hashes:  # a joined head holds only the rows every configuration has
                    train_hashes = head_train
                    features = Features(store, index.name, train_hashes)
                    labels = labels_of(index, train_hashes)
                views = view_inputs(loaded.inputs, args.tta)
                started = time.perf_counter()
                scores = cross_validated(loaded.model, features.parts(loaded.inputs.configs),
                                         [features.parts(v.configs) for v in views], labels, args.cv)
                evaluated = eval_head(result.folder, "validation", tta=args.tta)
                rows.append({**rows[-1], "tta": args.tta, "cv_accuracy": scores["tta_cv_accuracy"],
                             "cv_accuracy_plain_refit": scores["plain_cv_accuracy"],
                             "validation_accuracy": evaluated["accuracy"],
                             "fit_seconds": record["fit_seconds"] + time.perf_counter() - started,
                             "extraction_seconds": extraction + sum(extraction_seconds(args.store, c)
                                                                    for v in views for c in v.ids)})
                print(json.dumps(rows[-1]), flush=True)

        singles = [heads[(c,)] for c in configs]
        member_seconds = sum(load_head(h).record["fit_seconds"] for h in singles)
        stacked = ensemble_heads(singles, store=args.store, method="stack", cv=args.cv,
                                 out=Path(scratch) / "ensemble-stack")
        averaged = ensemble_heads(singles, store=args.store, method="mean", out=Path(scratch) / "ensemble-mean")
        search = stacked.record["search"]  # out-of-fold probabilities of train: the mean's CV figure too
        for method, result, cv_figure in (("stack", stacked, search["stack_cv_accuracy"]),
                                          ("mean", averaged, search["mean_oof_accuracy"])):
            rows.append({"combination": label(configs), "head": f"ensemble ({method}) of the single-backbone heads",
                         "tta": 0, "cv_accuracy": cv_figure,
                         "validation_accuracy": result.record["metrics"]["validation"]["accuracy"],
                         "fit_seconds": stacked.record["fit_seconds"] + member_seconds,
                         "extraction_seconds": sum(seconds.values())})
            print(json.dumps(rows[-1]), flush=True)

        plain_rows = [r for r in rows if r["head"].startswith("logreg") and r["tta"] == 0]
        best = max(plain_rows, key=lambda r: r["cv_accuracy"])
        combo = tuple(best["combination"].split(" + "))
        result = fit_head(args.store, "auto", config=list(combo), dataset=index.name, cv=args.cv,
                          out=Path(scratch) / "auto")
        record = result.record
        rows.append({"combination": best["combination"], "head": f"--kind auto: {record['kind']}", "tta": 0,
                     "cv_accuracy": record["search"]["best_cv_accuracy"],
                     "cv_by_kind": {k: v["best_cv_accuracy"] for k, v in record["search"]["by_kind"].items()},
                     "validation_accuracy": record["metrics"]["validation"]["accuracy"],
                     "fit_seconds": record["fit_seconds"], "extraction_seconds": best["extraction_seconds"]})
        print(json.dumps(rows[-1]), flush=True)

        if args.finetuned:
            rows += finetuned_rows(args, heads, rows, Path(scratch))

    chosen = max((r for r in rows if r["cv_accuracy"] is not None), key=lambda r: (r["cv_accuracy"],
                                                                                   -r["extraction_seconds"]))
    print(f"chosen by CV on train: {chosen['combination']} / {chosen['head']} / tta {chosen['tta']}: CV "
          f"{chosen['cv_accuracy']:.4f}, validation {chosen['validation_accuracy']:.4f}", flush=True)
    names = {c.config_id: f"{c.backbone} {c.size}px {c.layer} {'x'.join(map(str, c.feature_shape))}"
             for c in store.configs()}
    print("\n".join(f"{k}: {v}" for k, v in names.items() if k in configs))
    print(markdown(rows, chosen))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "chosen": chosen, "tta": args.tta, "cv": args.cv,
                                         "load": os.getloadavg()}, indent=2))


def finetuned_rows(args, heads, rows, scratch: Path) -> list[dict]:
    """The fine-tuned head alone, with test-time views, and averaged with the best single-backbone head by CV."""
    tuned = load_head(Path(args.finetuned) if Path(args.finetuned).is_dir() else
                      args.store / "heads" / args.finetuned)
    cut = tuned.inputs.ids[0]
    extraction = extraction_seconds(args.store, cut)  # the cut activations; the training's own work is its fit
    out = []
    base = {"combination": f"fine-tuned {tuned.head_id}", "cv_accuracy": None,
            "fit_seconds": tuned.record["fit_seconds"], "extraction_seconds": extraction}
    out.append({**base, "head": "finetune", "tta": 0,
                "validation_accuracy": tuned.record["metrics"]["validation"]["accuracy"]})
    if args.tta:
        evaluated = eval_head(tuned.folder, "validation", tta=args.tta)
        views = [c for v in view_inputs(tuned.inputs, args.tta) for c in v.ids]
        out.append({**base, "head": "finetune", "tta": args.tta, "validation_accuracy": evaluated["accuracy"],
                    "extraction_seconds": extraction + sum(extraction_seconds(args.store, c) for c in views)})
    singles = [r for r in rows if r["head"].startswith("logreg") and r["tta"] == 0 and " + " not in r["combination"]]
    second = max(singles, key=lambda r: r["cv_accuracy"])  # chosen by CV on train
    pair = ensemble_heads([tuned.folder, heads[(second["combination"],)]], store=args.store, method="mean",
                          out=scratch / "finetuned-pair")
    out.append({"combination": f"fine-tuned {tuned.head_id} + {second['combination']}",
                "head": "ensemble (mean): fine-tuned + the best single backbone by CV", "tta": 0, "cv_accuracy": None,
                "validation_accuracy": pair.record["metrics"]["validation"]["accuracy"],
                "fit_seconds": tuned.record["fit_seconds"] + second["fit_seconds"],
                "extraction_seconds": extraction + second["extraction_seconds"]})
    if args.tta:
        evaluated = eval_head(pair.folder, "validation", tta=args.tta)
        views = [c for v in view_inputs(load_head(pair.folder).inputs, args.tta) for c in v.ids]
        out.append({**out[-1], "tta": args.tta, "validation_accuracy": evaluated["accuracy"],
                    "extraction_seconds": out[-1]["extraction_seconds"] + sum(
                        extraction_seconds(args.store, c) for c in views)})
    for row in out:
        print(json.dumps(row), flush=True)
    return out


def json_rows(folder: Path, split: str) -> list[str]:
    """The hashes a head recorded for a split (its rows.h5), in order."""
    from heads.record import read_rows

    rows = read_rows(folder)
    return rows.hashes[rows.splits == split].tolist()


def labels_of(index, hashes: list[str]) -> np.ndarray:
    position = {h: i for i, h in enumerate(index.hashes)}
    return np.array([index.labels[position[h]] for h in hashes])


def markdown(rows: list[dict], chosen: dict) -> str:
    lines = ["| combination | head | TTA views | CV accuracy (train, 5-fold) | validation accuracy | fit s | "
             "extraction s |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -(r["cv_accuracy"] or 0)):
        mark = " **(chosen)**" if r is chosen else ""
        cv = "-" if r["cv_accuracy"] is None else f"{r['cv_accuracy']:.4f}"
        lines.append(f"| {r['combination']}{mark} | {r['head']} | {r['tta']} | {cv} | "
                     f"{r['validation_accuracy']:.4f} | {r['fit_seconds']:.0f} | {r['extraction_seconds']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
