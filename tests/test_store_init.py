"""Creating a store: concurrent creators (`--shard i/n` slices started together) all get the
same store, and a folder that is not a store is refused with nothing written into it."""
import multiprocessing
from pathlib import Path

import pytest

from store import FeatureStore, StoreError, init_store
from store.layout import FORMAT_VERSION

CREATORS, ROUNDS = 6, 25


def _create_each_round(roots: list[str], barrier, report: str) -> None:
    failures = []
    for root in roots:
        barrier.wait(timeout=60)  # every creator starts each store at the same moment
        try:
            init_store(root)
        except Exception as error:  # noqa: BLE001 -- reported to the test, whatever it is
            failures.append(f"{root}: {type(error).__name__}: {error}")
    Path(report).write_text("\n".join(failures))


def test_concurrent_creators_all_get_one_valid_store(tmp_path):
    parent, reports = tmp_path / "stores", tmp_path / "reports"
    parent.mkdir()
    reports.mkdir()
    roots = [str(parent / f"store{i}") for i in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow threads
    barrier = context.Barrier(CREATORS)
    creators = [context.Process(target=_create_each_round, args=(roots, barrier, str(reports / f"{n}.txt")))
                for n in range(CREATORS)]
    for creator in creators:
        creator.start()
    for creator in creators:
        creator.join(timeout=300)
    assert [c.exitcode for c in creators] == [0] * CREATORS
    failures = [line for report in sorted(reports.iterdir()) for line in report.read_text().splitlines()]
    assert failures == []
    for root in roots:
        FeatureStore(root)
        assert [p.name for p in Path(root).iterdir()] == ["store.json"]
    assert sorted(p.name for p in parent.iterdir()) == sorted(f"store{i}" for i in range(ROUNDS)), "nothing written beside the stores"


def test_existing_empty_folder_becomes_a_store_in_place(tmp_path):
    (tmp_path / "store").mkdir()
    folder = (tmp_path / "store").stat().st_ino
    init_store(tmp_path / "store")
    FeatureStore(tmp_path / "store")
    assert (tmp_path / "store").stat().st_ino == folder, "a pre-made folder (a mount point, say) must be kept"
    assert init_store(tmp_path / "store").root == tmp_path / "store"  # a second call reuses it


def test_symlink_to_an_empty_folder_becomes_a_store(tmp_path):
    (tmp_path / "volume").mkdir()
    (tmp_path / "store").symlink_to(tmp_path / "volume")
    init_store(tmp_path / "store")
    assert (tmp_path / "store").is_symlink()
    assert [p.name for p in (tmp_path / "volume").iterdir()] == ["store.json"]


def test_folder_left_with_a_dead_creators_temporary_becomes_a_store(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / ".store.json.otherhost.4242.tmp").write_text("{")
    init_store(tmp_path / "store")
    FeatureStore(tmp_path / "store")


def test_folder_that_is_not_a_store_is_refused_untouched(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"not touched")
    with pytest.raises(StoreError, match=r"not a feature store \(no store.json\)\. Received: .*photos"):
        init_store(folder)
    assert [p.name for p in folder.iterdir()] == ["cat.jpg"]
    assert (folder / "cat.jpg").read_bytes() == b"not touched"
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]


def test_store_of_another_format_version_is_refused(tmp_path):
    init_store(tmp_path / "store")
    (tmp_path / "store" / "store.json").write_text(
        f'{{"format": "bottleneck-feature-store", "version": {FORMAT_VERSION + 1}}}')
    with pytest.raises(StoreError, match="Unsupported store format"):
        init_store(tmp_path / "store")


def test_a_file_given_as_the_store_is_refused_untouched(tmp_path):
    (tmp_path / "features.h5").write_bytes(b"mine")
    with pytest.raises(StoreError, match=r"not a feature store \(no store.json\)\. Received: .*features.h5"):
        init_store(tmp_path / "features.h5")
    assert (tmp_path / "features.h5").read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["features.h5"]
