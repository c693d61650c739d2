"""Which files of a data folder are read (extract.sources.reading): regular files only, symlinks by one
rule, the kind sniffed before a whole read, a size limit, the store left out of its own data folder,
names that are not valid UTF-8 rejected alone (recorded by their escaped bytes, listed by `extract ls
--rejected`). Each case: the run goes on, with the file named."""
import dataclasses
import os
import resource
import signal
from pathlib import Path

import pytest

from extract.api import run_extraction
from extract.scan import scan_dataset
from extract.sources import reading
from heads.fit import fit_head
from heads.predict import _file_hash, predict_images
from tests.conftest import TINY, TINY_RUN, make_dataset


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", per_class=4, splits=())


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks (a FIFO) fails the test instead of hanging it."""
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("a file read blocked"))
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def reasons(scan) -> dict[str, str]:
    return {e.path: e.reason for e in scan.entries}


def test_symlink_to_dev_zero_is_refused_unopened(data, monkeypatch):
    (data / "cats" / "zero.jpg").symlink_to("/dev/zero")
    opened = []
    real = reading.read_one
    monkeypatch.setattr(reading, "read_one", lambda path, limit: opened.append(path) or real(path, limit))
    scan = scan_dataset(data)
    assert reasons(scan)["cats/zero.jpg"] == "a symlink to outside the data folder: not followed"
    assert not any(p.endswith("zero.jpg") for p in opened) and len(scan.usable()) == 8


def test_symlinks_inside_the_data_folder_are_followed_only_to_regular_files(data):
    (data / "dogs" / "alias.png").symlink_to(data / "cats" / "cats.all.0.png")
    os.mkfifo(data / "fifo")
    (data / "cats" / "to_fifo.jpg").symlink_to(data / "fifo")
    found = reasons(scan_dataset(data))
    assert found["dogs/alias.png"] == ""  # inside, a regular file: read (its own row, its own label)
    assert found["cats/to_fifo.jpg"] == "a symlink to a FIFO: not read (only regular files are)"


def test_fifo_named_like_an_image_does_not_block_the_run_nor_predict(data, tmp_path):
    os.mkfifo(data / "cats" / "pipe.jpg")
    summary = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert ("cats/pipe.jpg", "a FIFO: not read (only regular files are)") in summary.rejected
    assert summary.extracted == 8
    assert _file_hash(data / "cats" / "pipe.jpg") == ("", "a FIFO: not read (only regular files are)")
    head = fit_head(tmp_path / "store", "logreg", out=tmp_path / "head").folder
    predicted = {Path(p.path).name: p for p in predict_images(head, [data / "cats"], keep=False)}  # the folder
    assert predicted["pipe.jpg"].error == "a FIFO: not read (only regular files are)"
    assert len(predicted) == 5 and all(not p.error for name, p in predicted.items() if name != "pipe.jpg")


def test_a_large_non_image_is_sniffed_not_read_whole(data):
    backup = data / "dogs" / "backup.tar"
    with open(backup, "wb") as handle:
        handle.truncate(3 * 2**30)  # 3 GB, sparse: no disk used, but read whole it costs 3 GB of memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scan = scan_dataset(data)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert "dogs/backup.tar" not in reasons(scan) and scan.skipped_non_image == 1
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_a_file_over_the_size_limit_is_rejected_unread(data, tmp_path):
    huge = data / "cats" / "huge.jpg"
    huge.write_bytes((data / "cats" / "cats.all.0.png").read_bytes())
    with open(huge, "r+b") as handle:
        handle.truncate(3 * 2**20)
    summary = run_extraction(data, tmp_path / "store", TINY, dataclasses.replace(TINY_RUN, max_image_mb=2))
    rejected = dict(summary.rejected)
    assert rejected["cats/huge.jpg"] == "larger than the size limit (3 MB > 2 MB, --max-image-mb): not read"
    assert summary.extracted == 8


def test_the_store_inside_its_own_data_folder_is_left_out(data):
    store = data / "cache"
    first = run_extraction(data, store, TINY, TINY_RUN)
    second = run_extraction(data, store, TINY, TINY_RUN)
    assert first.images == second.images == 8 and second.extracted == 0
    assert "cache" not in scan_dataset(data).classes
    notes = [n.message for n in second.notes if n.code == "files.store_inside"]
    assert notes == ["1 feature store folder inside the data folder left out: cache/"]


def test_a_name_that_is_not_utf8_is_left_out_alone(data, tmp_path):
    raw = os.fsencode(data / "dogs") + b"/bad\xff.png"
    with open(raw, "wb") as handle:
        handle.write((data / "dogs" / "dogs.all.0.png").read_bytes())
    summary = run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    assert summary.extracted == 8
    note = next(n for n in summary.notes if n.code == "files.bad_name")
    assert note.message == "1 file with a name that is not valid UTF-8 left out (rename it), e.g. dogs/bad\\xff.png"
    assert dict(summary.rejected) == {"dogs/bad\\xff.png": "a name that is not valid UTF-8: not read (rename it)"}


def test_names_that_are_not_utf8_are_listed_as_rejected(data, tmp_path):
    """`extract ls --rejected` lists them by their bytes, escaped, with the reason; the class folder case too."""
    import json

    from typer.testing import CliRunner

    from extract.cli import app

    image = (data / "dogs" / "dogs.all.0.png").read_bytes()
    os.mkdir(os.fsencode(data) + b"/bi\xffrds")
    for raw in (b"/dogs/bad\xff.png", b"/bi\xffrds/x.png", b"/cats/\x1b[2J\xfe.png"):
        with open(os.fsencode(data) + raw, "wb") as handle:
            handle.write(image)
    store = str(tmp_path / "store")
    summary = run_extraction(data, store, TINY, TINY_RUN)
    assert summary.extracted == 8 and summary.images == 8
    listing = CliRunner().invoke(app, ["ls", "--store", store, "--rejected"])
    assert listing.exit_code == 0, listing.output
    reason = "a name that is not valid UTF-8: not read (rename it)"
    lines = [line.strip() for line in listing.stdout.splitlines() if "UTF-8" in line]
    assert sorted(lines) == sorted(f"data: {name}: {reason}" for name in
                                   ("dogs/bad\\xff.png", "bi\\xffrds/x.png", "cats/\\x1b[2J\\xfe.png"))
    assert "\x1b" not in listing.stdout and "3 rejected" in listing.stdout
    as_json = json.loads(CliRunner().invoke(app, ["ls", "--store", store, "--rejected", "--json"]).stdout)
    rejected = as_json["configs"][0]["datasets"][0]["rejected"]
    assert {r["path"]: r["reason"] for r in rejected} == {
        "dogs/bad\\xff.png": reason, "bi\\xffrds/x.png": reason, "cats/\x1b[2J\\xfe.png": reason}
    again = run_extraction(data, store, TINY, TINY_RUN)  # the same rows: the index is not written anew
    assert again.extracted == 0 and sorted(again.rejected) == sorted(summary.rejected)


def test_heads_predict_gives_a_name_that_is_not_utf8_its_row(data, tmp_path):
    """Was: the whole prediction refused (`'utf-8' codec can't encode ...`, no file named) when writing --out."""
    from typer.testing import CliRunner

    from heads.cli import app

    run_extraction(data, tmp_path / "store", TINY, TINY_RUN)
    head = fit_head(tmp_path / "store", "logreg", out=tmp_path / "head").folder
    with open(os.fsencode(data / "cats") + b"/bad\xff.png", "wb") as handle:
        handle.write((data / "cats" / "cats.all.0.png").read_bytes())
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(app, ["predict", "--head", str(head), str(data / "cats"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {Path(line.split(",")[0]).name: line.split(",")[3] for line in out.read_text().splitlines()[1:]}
    assert rows.pop("bad\\xff.png") == "a name that is not valid UTF-8: not read (rename it)"
    assert len(rows) == 4 and not any(rows.values())  # the others predicted
