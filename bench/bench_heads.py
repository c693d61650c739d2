"""Benchmark: `heads fit --kind dense` against the Keras blog's recipe, on the same cached features.

The blog's recipe (Chollet 2016, "Building powerful image classification models using very
little data", bottleneck features): Flatten -> Dense(256, relu) -> Dropout(0.5) -> Dense(1, sigmoid),
rmsprop, binary cross-entropy, plain `model.fit(..., epochs=50, batch_size=16,
validation_data=...)`. Both run in this one process on the features of one store configuration;
the blog's features are read into memory before its clock starts (in its favour), while
`heads fit` is timed end to end (read the store, fit, score every split, write the head folder).

    python bench/bench_heads.py --store /work/cache150 [--repeats 3] [--json bench_heads.json]

Done when: heads at least 5x faster, validation accuracy within 0.5 points of the blog's.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from heads.fit import fit_head  # noqa: E402
from store import FeatureStore  # noqa: E402


def blog_recipe(train, validation, seed: int, epochs: int = 50, batch_size: int = 16) -> tuple[float, float]:
    """(seconds, validation accuracy) of the blog's plain Keras top model."""
    import keras

    keras.utils.set_random_seed(seed)
    n_classes = len(np.unique(train.labels))
    binary = n_classes == 2
    model = keras.Sequential([
        keras.Input(train.features.shape[1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1 if binary else n_classes, activation="sigmoid" if binary else "softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_train, x_val = train.features.astype(np.float32), validation.features.astype(np.float32)
    started = time.perf_counter()
    model.fit(x_train, train.labels, epochs=epochs, batch_size=batch_size,
              validation_data=(x_val, validation.labels), verbose=0)
    seconds = time.perf_counter() - started
    proba = model.predict(x_val, verbose=0)
    predicted = (proba[:, 0] > 0.5).astype(int) if binary else proba.argmax(axis=1)
    return seconds, float(np.mean(predicted == validation.labels))


def heads_dense(store: Path, config: str | None, seed: int, out: Path) -> tuple[float, float, float, int]:
    """(end-to-end seconds, fit seconds, validation accuracy, epochs run) of `heads fit --kind dense`."""
    started = time.perf_counter()
    result = fit_head(store, "dense", config=config, seed=seed, out=out)
    seconds = time.perf_counter() - started
    return (seconds, result.record["fit_seconds"], result.record["metrics"]["validation"]["accuracy"],
            result.record["dense"]["epochs_run"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--config", default=None, help="configuration id, prefix or backbone")
    parser.add_argument("--repeats", type=int, default=1, help="seeds per method (0, 1, ...)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()

    view = FeatureStore(args.store).view(args.config)
    train, validation = view.read("train"), view.read("validation")
    print(f"{view.config.config_id}: features {tuple(view.config.feature_shape)} {view.config.dtype}, "
          f"train {len(train)}, validation {len(validation)}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.repeats):
            ours = heads_dense(args.store, view.config.config_id, seed, Path(scratch) / f"dense-{seed}")
            print(f"seed {seed}: heads fit --kind dense  {ours[0]:6.1f} s end to end ({ours[1]:.1f} s fitting, "
                  f"{ours[3]} epochs)  validation accuracy {ours[2]:.4f}", flush=True)
            blog = blog_recipe(train, validation, seed)
            print(f"seed {seed}: blog recipe (batch 16, 50 epochs)  {blog[0]:6.1f} s model.fit  "
                  f"validation accuracy {blog[1]:.4f}", flush=True)
            rows.append({"seed": seed, "heads_seconds": ours[0], "heads_fit_seconds": ours[1],
                         "heads_accuracy": ours[2], "heads_epochs": ours[3],
                         "blog_seconds": blog[0], "blog_accuracy": blog[1]})
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "seed"}
    speedup = mean["blog_seconds"] / mean["heads_seconds"]
    gap = 100 * (mean["heads_accuracy"] - mean["blog_accuracy"])
    verdict = speedup >= 5 and gap >= -0.5
    print(f"mean over {len(rows)} seed(s): heads {mean['heads_seconds']:.1f} s, accuracy {mean['heads_accuracy']:.4f}; "
          f"blog {mean['blog_seconds']:.1f} s, accuracy {mean['blog_accuracy']:.4f}")
    print(f"speed-up {speedup:.1f}x (target >= 5x), accuracy {gap:+.2f} points (target >= -0.5): "
          f"{'PASS' if verdict else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"config_id": view.config.config_id, "runs": rows, "mean": mean,
                                         "speedup": speedup, "accuracy_points": gap, "pass": verdict}, indent=2))


if __name__ == "__main__":
    main()
