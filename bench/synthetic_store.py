"""A store of N pooled feature rows written straight through the store's own writing API, no image read.

What `bench_scale.py --synthetic-rows` measures the reading commands on (`extract ls`, `heads fit
--kind logreg`, `heads eval`) when generating and extracting a million images would not fit the
machine's time. The rows are what MobileNet 0.25 at 32 px, average-pooled, stores (256 float16
values): two Gaussian blobs (cats, dogs), a fifth of each in validation. The configuration names the
real tiny MobileNet weights, so the store reads as any other; its dataset lists file names that do not
exist (no command here opens an image). Shards of 256 rows, as `extract run` writes them by default.

    python bench/synthetic_store.py --rows 1000000 --store /tmp/synthetic-1m
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from store import catalog_index, init_store
from store.config import ExtractorConfig, write_config
from store.datasets import DatasetIndex, write_dataset
from store.shards import ShardContent, write_shard

# The configuration bench_scale.py extracts (MobileNet alpha 0.25, 32 px, avg): the manifest's sha256.
CONFIG = ExtractorConfig(backbone="mobilenet", preprocess="tf", size=32, layer="conv_pw_13_relu", pool="avg",
                         alpha=0.25, weights_sha256="395ba464e7cd1db71fe163470d17319a27677a17c733d7c79d9a4ff5d936e959",
                         weights_source="mobilenet_2_5_128_tf_no_top.h5", feature_shape=(256,))
CLASSES = ["cats", "dogs"]


def content_hashes(start: int, stop: int) -> list[str]:
    """Distinct stand-ins for sha256 content hashes (64 hex digits), one per row."""
    return [hashlib.sha256(b"synthetic row %d" % i).hexdigest() for i in range(start, stop)]


def write_synthetic_store(store: str | Path, rows: int, shard_rows: int = 256, seed: int = 0,
                          validation_every: int = 5) -> dict:
    """Write `rows` feature rows and a dataset index naming them (dataset "synthetic") into `store`.

    Parameters
    ----------
    store : str or Path
        A new store folder (or an existing store: the configuration must not hold rows yet).
    rows : int
        Feature rows, half per class.
    shard_rows : int
        Rows per shard file.
    seed : int
        Seeds the features.
    validation_every : int
        Every that-many-th row is in the validation split, the rest in train.

    Returns
    -------
    dict
        config_id, rows, shards and the seconds it took.
    """
    started = time.perf_counter()
    layout = init_store(store)
    write_config(layout, CONFIG)
    shards_dir = layout.shards_dir(CONFIG.config_id)
    shards_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 256)).astype(np.float32)
    hashes, labels = [], np.arange(rows, dtype=np.int32) % 2
    for start in range(0, rows, shard_rows):
        stop = min(rows, start + shard_rows)
        keys = content_hashes(start, stop)
        values = centres[labels[start:stop]] + rng.normal(scale=2.0, size=(stop - start, 256)).astype(np.float32)
        write_shard(shards_dir, CONFIG.config_id, ShardContent(keys, values.astype(np.float16), [], []))
        hashes += keys
    catalog_index.load_columns(shards_dir, update=True)  # what a writer leaves: the index of every shard
    splits = np.where(np.arange(rows) % validation_every == 0, "validation", "train").tolist()
    paths = [f"{CLASSES[label]}/{CLASSES[label]}.{i}.jpg" for i, label in enumerate(labels.tolist())]
    write_dataset(layout, DatasetIndex(name="synthetic", data_root=str(Path(store).resolve() / "no-images"),
                                       classes=CLASSES, paths=paths, labels=labels, splits=splits, hashes=hashes,
                                       reasons=[""] * rows, source={"layout": "synthetic"}))
    return {"config_id": CONFIG.config_id, "rows": rows, "shards": -(-rows // shard_rows),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    print(write_synthetic_store(args.store, args.rows))


if __name__ == "__main__":
    main()
