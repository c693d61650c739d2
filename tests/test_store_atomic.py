"""Staged writes: temporaries whose owner parses for any host name, cleaned by the next writer when
their writer is dead, reported (never deleted) when it lives on another host, and reported by verify."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from store import atomic, init_store
from store.reader import FeatureStore
from store.verify import verify_store

DOTTED = "node1.cluster.local"


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary_of(final: Path, pid: int, host: str, monkeypatch) -> Path:
    """The temporary name a writer with that pid on that host gives `final`, as a file."""
    with monkeypatch.context() as patch:
        patch.setattr(atomic.socket, "gethostname", lambda: host)
        patch.setattr(atomic.os, "getpid", lambda: pid)
        path = atomic.temporary_name(final)
    path.write_bytes(b"half written")
    return path


def test_owner_parses_whatever_the_host_name_holds(tmp_path, monkeypatch):
    for host in (DOTTED, "a-b", "ünïcode.example", "", "x" * 63 + ".y.z"):
        monkeypatch.setattr(atomic.socket, "gethostname", lambda host=host: host)
        tmp = atomic.temporary_name(tmp_path / "shard-1.commit.json")
        parsed = atomic.parse_temporary(tmp)
        assert parsed is not None
        assert (parsed.host, parsed.pid, parsed.final) == (host, os.getpid(), "shard-1.commit.json")
        assert parsed.state == "alive" and atomic.is_temporary_of(tmp, tmp_path / "shard-1.commit.json")
    keras = atomic.temporary_name(tmp_path / "model.keras", keep_suffix=True)
    assert keras.name.endswith(".tmp.keras") and atomic.parse_temporary(keras).final == "model.keras"
    assert atomic.parse_temporary(tmp_path / ".hidden.tmp") is None
    assert atomic.parse_temporary(tmp_path / "shard-1.h5") is None


def test_dotted_host_dead_writer_is_cleaned_by_the_next_writer_and_reported_by_verify(tmp_path, monkeypatch):
    store = init_store(tmp_path / "store").root
    monkeypatch.setattr(atomic.socket, "gethostname", lambda: DOTTED)  # this host is node1.cluster.local
    folder = store / "datasets" / "pets"
    folder.mkdir(parents=True)
    dead = temporary_of(folder / "index-1.h5", dead_pid(), DOTTED, monkeypatch)
    old_style = folder / f".index-2.h5.{DOTTED}.{dead_pid()}.tmp"  # a version-1 writer's name
    old_style.write_bytes(b"")
    alive = temporary_of(folder / "index-3.h5", os.getpid(), DOTTED, monkeypatch)
    elsewhere = temporary_of(folder / "index-4.h5", dead_pid(), "node2.cluster.local", monkeypatch)

    states = {t.path: t.state for t in atomic.temporaries(folder)}
    assert states == {dead: "dead", old_style: "dead", alive: "alive", elsewhere: "unknown"}
    report = {p.path: p for p in verify_store(store).problems}
    assert "dead writer" in report[dead].what and report[dead].removable == [dead]
    assert "dead writer" in report[old_style].what
    assert "node2.cluster.local" in report[elsewhere].what and "liveness unknown" in report[elsewhere].what
    assert report[elsewhere].removable == [] and alive not in report

    atomic.write_bytes(folder / "other.bin", b"next writer")  # any staged write in that folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([alive.name, elsewhere.name, "other.bin"])
    verify_store(store, repair=True)
    assert elsewhere.exists(), "another host's temporary is never deleted from here"


def test_killed_store_json_creator_leaves_a_temporary_the_next_writer_cleans(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from store import atomic
        with atomic.staged_file(Path({str(store)!r}) / "store.json") as tmp:
            tmp.write_text('{{"format": ')
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    assert killed.returncode == -signal.SIGKILL
    (leftover,) = store.iterdir()
    assert atomic.parse_temporary(leftover).state == "dead" and atomic.is_temporary_of(leftover, store / "store.json")

    init_store(store)  # the folder holds nothing but a dead creator's temporary: it becomes the store
    assert [p.name for p in store.iterdir()] == ["store.json"]

    again = store / leftover.name  # a creator killed beside a finished store: verify names it, a writer cleans it
    again.write_text("{")
    problems = verify_store(store).problems
    assert [p.path for p in problems] == [again] and "never became store.json" in problems[0].what
    init_store(store)
    assert [p.name for p in store.iterdir()] == ["store.json"]
    FeatureStore(store)


def test_a_failed_staged_write_leaves_the_old_file_and_no_temporary(tmp_path):
    final = tmp_path / "record.json"
    atomic.write_json(final, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic.staged_file(final) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed mid-write")
    assert atomic.read_json(final) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["record.json"]
    with pytest.raises(atomic.StagingError, match="Nothing was written"):
        with atomic.staged_file(tmp_path / "empty.bin"):
            pass


def test_staged_folder_publishes_whole_and_refuses_a_filled_target(tmp_path):
    with atomic.staged_folder(tmp_path / "head") as folder:
        (folder / "model.keras").write_bytes(b"weights")
        (folder / "sub").mkdir()
        (folder / "sub" / "head.json").write_text("{}")
        assert not (tmp_path / "head").exists()
    assert (tmp_path / "head" / "sub" / "head.json").read_text() == "{}"
    (tmp_path / "empty").mkdir()
    with atomic.staged_folder(tmp_path / "empty") as folder:  # an empty folder may be replaced
        (folder / "a").write_text("a")
    assert (tmp_path / "empty" / "a").is_file()
    with pytest.raises(atomic.StagingError, match="existing non-empty path. Received: .*head"):
        with atomic.staged_folder(tmp_path / "head"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "head"]
