"""Issue 20, store half: stored features are checked when read, and store files never reach outside.

Each test reproduces one case of the issue: flipped bytes in a shard's features, a shard whose
features live in a file outside the store (HDF5 external storage, marker re-signed).
"""
from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from extract.api import run_extraction
from extract.cli import app as extract_app
from heads.cli import app as heads_app
from store import FeatureStore, atomic
from store.errors import StoreError
from store.shards import MARKER_SUFFIX, file_sha256
from store.verify import verify_store
from tests.conftest import TINY, TINY_RUN

RUN = dataclasses.replace(TINY_RUN, shard_size=6)
runner = CliRunner()


def refusal(result) -> str:
    """The one error line of a refused command (progress lines aside), never a traceback."""
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def shard_files(store):
    return sorted(store.glob("configs/*/shards/shard-*.h5"))


def read_all(store) -> np.ndarray:
    view = FeatureStore(store).view()
    return np.concatenate([view.read(split).features for split in ("train", "validation")])


def flip_feature_bytes(shard) -> None:
    """Flip bytes in the middle of the features' first chunk (not a truncation: the size is kept)."""
    with h5py.File(shard, "r") as f:
        dataset = f["features"]
        start, size = (dataset.id.get_chunk_info(0).byte_offset, dataset.id.get_chunk_info(0).size) \
            if dataset.chunks else (dataset.id.get_offset(), dataset.id.get_storage_size())
    with open(shard, "r+b") as handle:
        handle.seek(start + size // 2)
        chunk = handle.read(8)
        handle.seek(start + size // 2)
        handle.write(bytes(b ^ 0x5A for b in chunk))


def resign(shard) -> None:
    """What a hostile writer does: the marker's size and sha256 recomputed for the changed file."""
    marker_path = shard.with_name(shard.name.replace(".h5", MARKER_SUFFIX))
    marker = atomic.read_json(marker_path)
    marker.update(bytes=shard.stat().st_size, sha256=file_sha256(shard))
    atomic.write_json(marker_path, marker)


def rewrite_without_checksums(shard) -> None:
    """A shard as written before Fletcher-32 (contiguous datasets), its marker re-signed."""
    with h5py.File(shard, "r") as f:
        arrays = {name: f[name][()] for name in f}
        attrs = dict(f.attrs)
    shard.unlink()
    with h5py.File(shard, "w") as f:
        f.attrs.update(attrs)
        for name, array in arrays.items():
            f.create_dataset(name, data=array, dtype=h5py.string_dtype() if name == "rejected_reasons" else None)
    resign(shard)


def test_new_shards_carry_checksums(dataset, tmp_path):
    run_extraction(dataset, tmp_path / "store", TINY, RUN)
    for shard in shard_files(tmp_path / "store"):
        with h5py.File(shard, "r") as f:
            assert f["features"].fletcher32 and f["hashes"].fletcher32


@pytest.mark.parametrize("checksummed", [True, False], ids=["fletcher32", "older-shard-sha256"])
def test_flipped_feature_bytes_never_reach_a_head(dataset, tmp_path, checksummed):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    before = read_all(store)
    victim = shard_files(store)[0]
    if not checksummed:
        rewrite_without_checksums(victim)
    flip_feature_bytes(victim)

    with pytest.raises(StoreError, match=f"{victim.name}.*damaged.*extract verify --repair"):
        read_all(store)
    fitted = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg"])
    assert victim.name in refusal(fitted) and "damaged" in refusal(fitted)

    again = run_extraction(dataset, store, TINY, RUN)  # not "Nothing to extract": the shard is dropped
    assert again.extracted == 6 and again.cached == 18
    assert any(note.code == "damaged_shards" and victim.name in note.message for note in again.notes)
    assert not victim.exists() and verify_store(store).ok
    np.testing.assert_allclose(read_all(store), before, rtol=1e-5, atol=1e-6)


def test_eval_of_an_existing_head_refuses_a_damaged_shard(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    assert runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg"]).exit_code == 0
    head_id = json.loads(runner.invoke(heads_app, ["list", "--store", str(store), "--json"]).stdout)[0]["head_id"]
    scored = runner.invoke(heads_app, ["eval", "--head", head_id, "--store", str(store), "--json"])
    assert scored.exit_code == 0, scored.output
    victims = [s for s in shard_files(store)]
    for victim in victims:
        flip_feature_bytes(victim)
    evaluated = runner.invoke(heads_app, ["eval", "--head", head_id, "--store", str(store)])
    assert "damaged" in refusal(evaluated)
    assert runner.invoke(extract_app, ["verify", "--store", str(store), "--repair"]).exit_code == 0
    assert run_extraction(dataset, store, TINY, RUN).extracted == 24  # every shard was damaged: all again
    again = runner.invoke(heads_app, ["eval", "--head", head_id, "--store", str(store), "--json"])
    assert again.exit_code == 0, again.output
    figures = ("accuracy", "log_loss", "confusion_matrix", "per_class")
    before, after = json.loads(scored.stdout), json.loads(again.stdout)
    assert {k: before[k] for k in figures} == {k: after[k] for k in figures}  # the exact figures restored


def test_external_storage_is_refused_and_reported(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    victim = shard_files(store)[0]
    outside = tmp_path / "outside.bin"
    with h5py.File(victim, "r") as f:
        features = f["features"][()]
    outside.write_bytes(np.zeros_like(features).tobytes())
    with h5py.File(victim, "a") as f:
        del f["features"]
        f.create_dataset("features", shape=features.shape, dtype=features.dtype,
                         external=[(str(outside), 0, h5py.h5f.UNLIMITED)])
    resign(victim)

    report = verify_store(store)
    assert any(p.path == victim and "external storage" in p.what for p in report.problems)
    with pytest.raises(StoreError, match="reaches outside itself.*external storage"):
        read_all(store)
    fitted = runner.invoke(heads_app, ["fit", "--store", str(store), "--kind", "logreg"])
    assert "outside itself" in refusal(fitted)


@pytest.mark.parametrize("kind", ["external-link", "soft-link", "virtual"])
def test_links_and_virtual_datasets_are_refused(dataset, tmp_path, kind):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    victim = shard_files(store)[0]
    elsewhere = tmp_path / "elsewhere.h5"
    with h5py.File(victim, "r") as f:
        features = f["features"][()]
    with h5py.File(elsewhere, "w") as f:
        f.create_dataset("features", data=np.zeros_like(features))
    with h5py.File(victim, "a") as f:
        del f["features"]
        if kind == "external-link":
            f["features"] = h5py.ExternalLink(str(elsewhere), "features")
        elif kind == "soft-link":
            f["elsewhere"] = h5py.ExternalLink(str(elsewhere), "/")
            f["features"] = h5py.SoftLink("/elsewhere/features")
        else:
            layout = h5py.VirtualLayout(shape=features.shape, dtype=features.dtype)
            layout[...] = h5py.VirtualSource(str(elsewhere), "features", shape=features.shape)
            f.create_virtual_dataset("features", layout)
    resign(victim)
    assert any(p.path == victim and "outside itself" in p.what for p in verify_store(store).problems)
    with pytest.raises(StoreError, match="reaches outside itself"):
        read_all(store)


def test_an_index_path_edited_to_escape_is_one_line_everywhere(dataset, tmp_path):
    store = tmp_path / "store"
    run_extraction(dataset, store, TINY, RUN)
    for index in store.glob("datasets/*/index-*.h5"):
        with h5py.File(index, "a") as f:
            paths = [p.decode() for p in f["path"][:]]
            paths[0] = "../../../../etc/hostname"
            del f["path"]
            f.create_dataset("path", data=paths, dtype=h5py.string_dtype())
    for app, args in ((extract_app, ["ls", "--store", str(store)]),
                      (extract_app, ["ls", "--store", str(store), "--json"]),
                      (heads_app, ["fit", "--store", str(store), "--kind", "logreg"])):
        assert "outside its data root" in refusal(runner.invoke(app, args)) and "etc/hostname" in refusal(
            runner.invoke(app, args))
    verified = runner.invoke(extract_app, ["verify", "--store", str(store)])
    assert verified.exit_code == 1 and "outside its data root" in verified.stdout


@pytest.mark.parametrize("layout", [{"fletcher32": True, "chunks": (3, 2)}, {}], ids=["checksummed", "contiguous"])
def test_rows_are_read_as_one_span_and_refused_outside_the_shard(tmp_path, layout):
    """store.integrity.read_rows gives what h5py's point selection gives (a span read, picked in NumPy: the point
    selection costs 24-32x on chunked shards), and a row the shard does not hold is one line, never wrapped."""
    from store.integrity import read_rows

    stored = np.arange(40, dtype=np.float16).reshape(10, 4)
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f.create_dataset("features", data=stored, **layout)
    with h5py.File(tmp_path / "rows.h5", "r") as f:
        for rows in ([0], [2, 5, 9], list(range(10)), []):
            np.testing.assert_array_equal(read_rows(f["features"], np.array(rows, dtype=np.int64)), stored[rows])
        for rows in ([-1, 2], [3, 10]):
            with pytest.raises(StoreError, match="which holds 10: run `extract verify --repair`"):
                read_rows(f["features"], np.array(rows))
