"""`heads report` and `heads compare`: pages built from a real tiny store with mislabelled images, parsed
with html.parser (every section there, every picture decodes), the mistakes found, and (when a Chromium
is installed) rendered by a real headless browser."""
from __future__ import annotations

import base64
import dataclasses
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from extract.api import run_extraction
from heads.cli import app
from heads.fit import fit_head
from heads.report import compare_heads, report_head
from heads.report.compare_page import SECTIONS as COMPARE_SECTIONS
from heads.report.head_page import SECTIONS as HEAD_SECTIONS
from tests.test_heads_support import COLOURS, TINY, TINY_RUN, image, image_folder, tiny_weights

MISLABELLED = {"train": 1, "validation": 2}  # dog-coloured images filed under cats/


class Page(HTMLParser):
    """The parts of a page the tests check: section ids, image sources, all text."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.images, self.text = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs["src"])
        assert tag != "script", "no JavaScript in a report page"

    def handle_data(self, data):
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def decodes(source: str, folder: Path) -> tuple[int, int]:
    """The size of the picture a src names: a data URI decoded, or a file beside the page."""
    if source.startswith("data:"):
        header, payload = source.split(",", 1)
        assert header in ("data:image/png;base64", "data:image/jpeg;base64"), header
        data = base64.b64decode(payload, validate=True)
    else:
        data = (folder / source).read_bytes()
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        return picture.size


@pytest.fixture(scope="module")
def heads_with_mistakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = image_folder(root / "data", seed=7)
    for split, count in MISLABELLED.items():
        for i in range(count):
            image(data / split / "cats" / f"odd.{split}.{i}.png", COLOURS["dogs"], 7000 + i + 10 * len(split))
    weights = tiny_weights(root / "tiny.weights.h5")
    store = root / "store"
    run_extraction(data, store, dataclasses.replace(TINY, weights=str(weights)), TINY_RUN)
    logreg = fit_head(store, "logreg", out=store / "heads" / "logreg").folder
    dense = fit_head(store, "dense", out=store / "heads" / "dense", epochs=8, batch_size=8, hidden=(16,), patience=0,
                     learning_rate=3e-3, seed=0).folder
    return store, logreg, dense


def test_head_report_has_every_section_and_its_pictures_decode(heads_with_mistakes, tmp_path):
    store, logreg, _ = heads_with_mistakes
    path = report_head(logreg, out=tmp_path)
    assert path == tmp_path / "report-logreg.html" or path.name.startswith("report-")
    page = Page(path.read_text(encoding="utf-8"))
    assert page.sections == list(HEAD_SECTIONS)
    sizes = [decodes(src, tmp_path) for src in page.images]
    assert all(w > 0 and h > 0 for w, h in sizes)
    words = page.words
    for text in ("logreg", "C", "0.01", "precision", "recall", "F1", "true \\ predicted", "validation", "train",
                 "fitted in one go"):
        assert text in words, text
    # the gallery: the mislabelled files are the confident mistakes, shown with true and predicted class
    assert "validation: 2 wrong of 14" in words
    for i in range(MISLABELLED["validation"]):
        assert f"validation/cats/odd.validation.{i}.png" in words
    assert words.count("true cats predicted dogs") >= MISLABELLED["validation"]  # a train one may be learnt
    thumbnails = [s for s in page.images if s.startswith("data:image/jpeg")]
    assert len(thumbnails) >= MISLABELLED["validation"]


def test_dense_head_report_shows_its_learning_curves(heads_with_mistakes, tmp_path):
    _, _, dense = heads_with_mistakes
    page = Page(report_head(dense, out=tmp_path).read_text(encoding="utf-8"))
    assert "loss and accuracy per epoch" in page.words and "fitted in one go" not in page.words
    assert len([s for s in page.images if s.startswith("data:image/png")]) == 3  # 2 confusion + curves


def test_compare_puts_heads_side_by_side(heads_with_mistakes, tmp_path):
    store, logreg, dense = heads_with_mistakes
    path = compare_heads(store, [str(logreg), str(dense)], out=tmp_path)
    page = Page(path.read_text(encoding="utf-8"))
    assert page.sections == list(COMPARE_SECTIONS)
    assert all(decodes(src, tmp_path) for src in page.images)
    for text in ("logreg", "dense", "validation accuracy", "train accuracy", "Per-class F1 on validation"):
        assert text in page.words, text
    every = Page(compare_heads(store).read_text(encoding="utf-8"))  # default: every head, in STORE/heads
    assert (store / "heads" / "compare.html").is_file() and "dense" in every.words


def test_compare_puts_the_best_first_marks_it_and_refuses_a_split_no_head_has(heads_with_mistakes, tmp_path):
    from heads.artifact import load_head

    store, logreg, dense = heads_with_mistakes
    records = {folder.name: load_head(folder).record for folder in (logreg, dense)}
    ranked = sorted(records, key=lambda h: (-records[h]["metrics"]["validation"]["accuracy"],
                                            records[h]["metrics"]["validation"]["log_loss"]))
    for given in ([str(logreg), str(dense)], [str(dense), str(logreg)]):  # the order given does not matter
        text = compare_heads(store, given, out=tmp_path).read_text(encoding="utf-8")
        summary = text[text.index('id="summary"'):text.index('id="per-class"')]
        assert [h for h in sorted(records, key=summary.index)] == ranked
    assert summary.count("\u2605") >= 3 and 'class="num best"' in summary  # a best figure in every split's columns
    best_loss = min(r["metrics"]["validation"]["log_loss"] for r in records.values())
    assert f"{best_loss:.4f} \u2605" in summary

    before = (tmp_path / "compare.html").read_bytes()
    refused = CliRunner().invoke(app, ["compare", "--store", str(store), "--head", str(logreg), "--head", str(dense),
                                       "--split", "test", "--out", str(tmp_path)])
    assert refused.exit_code == 3 and "No head compared has figures on the 'test' split" in refused.stderr
    assert (tmp_path / "compare.html").read_bytes() == before  # the page is not replaced by an empty one


def test_cli_report_and_refusals(heads_with_mistakes, tmp_path):
    store, logreg, _ = heads_with_mistakes
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--head", "logreg", "--store", str(store), "--out", str(tmp_path),
                                 "--gallery", "1"])
    assert result.exit_code == 0, result.output
    page = Page(next(tmp_path.glob("report-*.html")).read_text(encoding="utf-8"))
    with_mistakes = [split for split in ("train", "validation") if f"{split}: 0 wrong" not in page.words]
    assert "validation" in with_mistakes
    assert len([s for s in page.images if s.startswith("data:image/jpeg")]) == len(with_mistakes)  # one per split
    refused = runner.invoke(app, ["report", "--head", "nothing", "--store", str(store)])
    assert refused.exit_code == 3 and "No head 'nothing'" in refused.stderr
    none = runner.invoke(app, ["compare", "--store", str(tmp_path / "empty")])
    assert none.exit_code == 3 and "No heads to compare" in none.stderr


def test_a_missing_image_file_is_said_not_fatal(heads_with_mistakes, tmp_path):
    store, logreg, _ = heads_with_mistakes
    moved = Path(str(store).replace("store", "data")) / "validation" / "cats" / "odd.validation.0.png"
    kept = tmp_path / "kept.png"
    shutil.move(moved, kept)
    try:
        page = Page(report_head(logreg, out=tmp_path).read_text(encoding="utf-8"))
    finally:
        shutil.move(kept, moved)
    assert "not readable here" in page.words and "odd.validation.0.png" in page.words


CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed (Debian: apt-get install chromium)")
def test_a_real_browser_renders_the_page(heads_with_mistakes, tmp_path):
    _, logreg, _ = heads_with_mistakes
    path = report_head(logreg, out=tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,3000", f"--screenshot={shot}", path.resolve().as_uri()],
                   capture_output=True, timeout=120, check=True)
    with Image.open(shot) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    assert pixels.shape[:2] == (3000, 1200)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, tables, figures and thumbnails drawn
