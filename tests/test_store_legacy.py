"""Version-1 stores (a run index per configuration) read as they are, and the first writer upgrades them
in place without losing anything."""
import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
from typer.testing import CliRunner

from extract.cli import app
from store import FeatureStore, init_store
from store.config import ExtractorConfig
from store.layout import StoreLayout
from store.merge import merge_store
from store.runs import latest_run_record
from store.shards import ShardContent, write_shard
from store.verify import verify_store

PLAIN = ExtractorConfig("mobilenet", "random-init-seed0", "tf", 32, "conv_pw_1_relu", feature_shape=(3,))
VIEW = dataclasses.replace(PLAIN, augment={"view": 0, "flip": "horizontal", "seed": 0})
ROWS = [(f"{split}/{name}/{i}.png", label, split, f"{split[0]}{label}{i}".ljust(64, "0"))
        for split in ("train", "validation") for label, name in enumerate(("cats", "dogs")) for i in range(2)]


def write_v1_run(path: Path, config_id: str, data_root: str, rows: list, created: str) -> None:
    """A run index exactly as version 1 wrote it."""
    strings = h5py.string_dtype(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"config_id": config_id, "data_root": data_root, "classes": json.dumps(["cats", "dogs"]),
                        "stats": json.dumps({"extracted": len(rows), "layout": "splits", "engine": "local"}),
                        "created": created})
        f.create_dataset("path", data=[r[0] for r in rows], dtype=strings)
        f.create_dataset("label", data=np.array([r[1] for r in rows], dtype="int32"))
        f.create_dataset("split", data=[r[2] for r in rows], dtype=strings)
        f.create_dataset("hash", data=np.array([r[3] for r in rows], dtype="S64"))
        f.create_dataset("reason", data=[""] * len(rows), dtype=strings)


def make_v1_store(root: Path, data_root: str) -> StoreLayout:
    """A plain configuration indexed on both splits, an augmented view indexed (later) on train only,
    and one finished slice of an unfinished `--shard i/2` set."""
    layout = StoreLayout(root)
    root.mkdir(parents=True)
    (root / "store.json").write_text(json.dumps({"format": "bottleneck-feature-store", "version": 1}))
    train = [r for r in ROWS if r[2] == "train"]
    for config, rows, created in ((PLAIN, ROWS, "2024-01-01T00:00:00+00:00"),
                                  (VIEW, train, "2024-01-02T00:00:00+00:00")):
        cid = config.config_id
        layout.config_dir(cid).mkdir(parents=True)
        layout.config_file(cid).write_text(json.dumps(config.to_json()))
        features = np.arange(len(rows) * 3, dtype=np.float16).reshape(len(rows), 3) + (config is VIEW)
        write_shard(layout.shards_dir(cid), cid, ShardContent([r[3] for r in rows], features, [], []))
        write_v1_run(layout.runs_dir(cid) / f"run-{created[:10].replace('-', '')}T000000000000.h5", cid,
                     data_root, rows, created)
    partial = layout.runs_dir(PLAIN.config_id) / "partial" / "slice-0-of-2.h5"
    write_v1_run(partial, PLAIN.config_id, data_root, ROWS[:3], "2024-01-03T00:00:00+00:00")
    with h5py.File(partial, "a") as f:
        f.attrs.update({"slice": "0/2", "total": len(ROWS), "listing": "ab" * 32})
        f.create_dataset("position", data=np.arange(3, dtype=np.int64))
    return layout


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def check_views(features: FeatureStore) -> None:
    assert features.datasets() == ["pets"]
    plain = features.view(PLAIN.config_id)
    assert plain.dataset == "pets" and plain.split_counts() == {"train": 4, "validation": 4}
    train = plain.read("train")
    assert train.class_names == ["cats", "dogs"] and train.labels.tolist() == [0, 0, 1, 1]
    assert train.features[:, 0].tolist() == [0, 3, 6, 9]
    view = features.view(VIEW.config_id)
    assert view.split_counts() == {"train": 4} and view.read("train").features[0, 0] == 1


def test_v1_store_reads_as_it_is(tmp_path):
    layout = make_v1_store(tmp_path / "store", str(tmp_path / "pets"))
    before = snapshot(layout.root)
    features = FeatureStore(layout.root)
    assert features.version == 1
    check_views(features)
    assert features.dataset().name == "pets"
    assert verify_store(layout.root).ok
    listing = CliRunner().invoke(app, ["ls", "--store", str(layout.root)])
    assert listing.exit_code == 0 and "dataset pets" in listing.output and "train 4, validation 4" in listing.output
    assert snapshot(layout.root) == before, "reading writes nothing"


def test_first_writer_upgrades_in_place_and_loses_nothing(tmp_path):
    layout = make_v1_store(tmp_path / "store", str(tmp_path / "pets"))
    before = snapshot(layout.root)
    init_store(layout.root)
    after = snapshot(layout.root)
    features = FeatureStore(layout.root)
    assert features.version == 2 and json.loads(after["store.json"])["version"] == 2
    moved = f"configs/{PLAIN.config_id}/runs/partial/slice-0-of-2.h5"
    kept = {name: data for name, data in before.items() if name not in ("store.json", moved)}
    assert {name: after[name] for name in kept} == kept, "every version-1 file is still there, unchanged"
    assert f"configs/{PLAIN.config_id}/partial/pets/slice-0-of-2.h5" in after
    check_views(features)
    index = features.dataset("pets")
    assert len(index) == len(ROWS), "the most complete index wins over the newer train-only one"
    for config, splits in ((PLAIN, ["train", "validation"]), (VIEW, ["train"])):
        record = latest_run_record(layout, config.config_id)
        assert record.dataset == "pets" and record.splits == splits and record.stats["extracted"] > 0
    assert latest_run_record(layout, PLAIN.config_id).digest == index.digest()
    assert verify_store(layout.root).ok

    init_store(layout.root)  # a second writer finds nothing to do
    assert snapshot(layout.root).keys() == after.keys()
    report = merge_store(layout.root)  # the moved slice still waits for its sibling
    assert report.waiting == [(PLAIN.config_id, "pets", "slices 1 of 2 have not finished")]
