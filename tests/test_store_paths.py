"""Paths read from records stay in their folder: absolute paths, `..`, `~` and symlinks out are refused."""
import json

import h5py
import numpy as np
import pytest

from store import init_store
from store.catalog import ShardCatalog
from store.datasets import DatasetIndex, read_dataset, write_dataset
from store.paths import PathEscapeError, confine
from store.shards import ShardContent, committed_shards, write_shard


@pytest.mark.parametrize("relative", ["/etc/passwd", "../outside.h5", "a/../../b", "~/x", "", ".", "C:\\x",
                                      "..\\..\\x"])
def test_lexical_escapes_are_refused_in_one_line(tmp_path, relative):
    with pytest.raises(PathEscapeError, match=r"must be a relative path inside its folder. Received: ") as error:
        confine(tmp_path, relative, "model_file")
    assert "\n" not in str(error.value) and "model_file" in str(error.value)


def test_symlink_escape_is_refused_and_inside_links_are_fine(tmp_path):
    folder, outside = tmp_path / "head", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.h5").write_bytes(b"x")
    (folder / "model.h5").symlink_to(outside / "secret.h5")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    (folder / "real.h5").write_bytes(b"y")
    (folder / "alias.h5").symlink_to(folder / "real.h5")
    for relative in ("model.h5", "sub/secret.h5"):
        with pytest.raises(PathEscapeError, match="leads outside .* \\(through a symlink\\)"):
            confine(folder, relative)
    assert confine(folder, "alias.h5") == folder / "alias.h5"
    assert confine(folder, "new/file.h5") == folder / "new" / "file.h5"  # need not exist yet


def test_shard_marker_pointing_through_a_symlink_is_refused(tmp_path):
    shards = tmp_path / "store" / "shards"
    name = write_shard(shards, "cfg", ShardContent(["a" * 64], np.zeros((1, 2), np.float16), [], []))
    assert len(committed_shards(shards)) == 1
    (tmp_path / "elsewhere.h5").write_bytes((shards / f"{name}.h5").read_bytes())
    (shards / f"{name}.h5").unlink()
    (shards / f"{name}.h5").symlink_to(tmp_path / "elsewhere.h5")
    with pytest.raises(PathEscapeError, match="through a symlink"):
        ShardCatalog.load(shards)
    marker = shards / f"{name}.commit.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "shard": "/tmp/elsewhere.h5"}))
    with pytest.raises(PathEscapeError, match="relative path inside its folder"):
        committed_shards(shards)


def test_dataset_index_rows_outside_the_data_root_are_refused(tmp_path):
    layout = init_store(tmp_path / "store")
    index = DatasetIndex("pets", str(tmp_path / "data"), ["cats"], ["cats/a.png", "cats/b.png"], [0, 0],
                         ["train", "train"], ["a" * 64, "b" * 64], ["", ""])
    path = write_dataset(layout, index)
    assert read_dataset(path).absolute(0) == tmp_path / "data" / "cats" / "a.png"
    for bad in ("/etc/passwd", "cats/../../../etc/passwd", "~root/.ssh/id_rsa"):
        with h5py.File(path, "a") as f:
            del f["path"]
            f.create_dataset("path", data=["cats/a.png", bad], dtype=h5py.string_dtype())
        with pytest.raises(ValueError, match=r"holds a path outside its data root. Received: "):
            read_dataset(path)
