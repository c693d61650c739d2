"""The code blocks of the README and the guides, and the folder they run in (tests/test_snippets.py).

A block runs when its language is bash, sh, shell or python and the line just before its fence is not
`<!-- no-run -->`; blocks without a language, `text`, `json` and the like are shown, never run
(docs/development.md#documentation says the same to authors).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tests.conftest import REPO

SHELL, PYTHON = "shell", "python"
RUNNABLE = {"bash": SHELL, "sh": SHELL, "shell": SHELL, "python": PYTHON, "py": PYTHON}
NO_RUN = "<!-- no-run -->"
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the opening fence, 1-based
    language: str  # as written after the fence ("" when none)
    code: str
    skipped: bool  # marked <!-- no-run -->

    @property
    def runs_as(self) -> str | None:
        return None if self.skipped else RUNNABLE.get(self.language.lower())

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def code_blocks(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown text, with its indentation (a block inside a list item) removed."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: a code fence that is never closed")
        before = lines[i - 1].strip() if i else ""
        blocks.append(Block(page, i + 1, opening["lang"], "\n".join(body) + "\n", before == NO_RUN))
        i = j + 1
    return blocks


def documentation_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def page_blocks(path: Path) -> list[Block]:
    return code_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))


PATTERNS = ("birds", "cats", "dogs")  # the classes of the generated photos: spots, stripes, checks


def make_photo(path: Path, pattern: str, seed: int, size: tuple[int, int]) -> Path:
    """A photo-like image whose class is a texture (spots, stripes or checks) in random colours, scale and
    phase: what an ImageNet base tells apart, while no two images are near-copies."""
    rng = np.random.default_rng(seed)
    width, height = size
    fg, bg = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    step = int(rng.integers(6, 12))
    if pattern == "birds":
        for _ in range(width * height // (step * step)):
            x, y, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(2, step // 2 + 2))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fg)
    for a in range(-step, max(size) + step, step):
        offset = int(rng.integers(0, 3))
        if pattern == "cats":
            draw.rectangle([0, a + offset, width, a + offset + step // 2], fill=fg)
        elif pattern == "dogs":
            for b in range(0, width + step, step):
                if (a // step + b // step) % 2:
                    draw.rectangle([b, a, b + step - 1, a + step - 1], fill=fg)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 12, (height, width, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
    return path


def make_workspace(root: Path, weights: Path) -> Path:
    """root/work (where blocks run) with the photos the README talks about, and root/shared/weights beside
    it, so that `../shared/weights` in a block means the real weights folder, as on the project's machines.

    my_photos/<class>/ holds 12 generated images of each of three classes (PATTERNS); new_photos/photo<i>
    holds 4 more of class i % 3 that the store has not seen."""
    work = root / "work"
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "weights").symlink_to(weights, target_is_directory=True)
    for c, name in enumerate(PATTERNS):
        for i in range(12):
            make_photo(work / "my_photos" / name / f"IMG_{c * 100 + i:04d}.jpg", name, seed=1000 * c + i,
                       size=(64 + 4 * i, 56))
    for i in range(4):
        make_photo(work / "new_photos" / f"photo{i}.png", PATTERNS[i % 3], seed=90_000 + i, size=(50, 70))
    return work


def _photos(folder: Path, pattern: str, names: list[str], seed: int, suffix: str = ".jpg") -> None:
    for i, name in enumerate(names):
        make_photo(folder / f"{name}{suffix}", pattern, seed=seed + i, size=(60 + 2 * (i % 5), 56))


def make_data_layouts(work: Path) -> None:
    """The data folders docs/data.md runs its commands on, one per shape it describes (classes birds, cats,
    dogs as textures; seeds apart from my_photos' so no content repeats between datasets):

    - pets/<class>/ (a folder per class; birds has 5 images only), flowers/{train,val}/<class>/;
    - dog-breed/train/<id>.jpg with dog-breed/labels.csv (id,breed): one id with no file, one file with no
      row, one row twice, one file with two labels;
    - photos/<file> with photos/meta.csv (path,label,split; `valid` for validation);
    - dogs-vs-cats/train/{cat,dog}.<n>.jpg (labels in file names) and an unlabelled test1/;
    - incoming/photo<i>.png (unlabelled, 6) and list.csv naming two of them and a missing file."""
    seed = 200_000
    for c, name in enumerate(PATTERNS):
        _photos(work / "pets" / name, name, [f"{name}{i}" for i in range(5 if name == "birds" else 14)], seed + 100 * c)
        for split, count in (("train", 7), ("val", 3)):
            _photos(work / "flowers" / split / name, name, [f"{split}{i}" for i in range(count)],
                    seed + 1000 + 100 * c + (50 if split == "val" else 0))
    breeds = work / "dog-breed"
    rows = []
    for i in range(30):
        name = PATTERNS[i % 3]
        ident = f"{i:06x}e7"
        _photos(breeds / "train", name, [ident], seed + 3000 + i)
        rows.append(f"{ident},{name}")
    _photos(breeds / "train", "cats", ["not_in_table"], seed + 3100)
    rows += ["ffff00e7,dogs", rows[0], f"{1:06x}e7,birds"]  # no file; a duplicate row; a second label
    (breeds / "labels.csv").write_text("id,breed\n" + "\n".join(rows) + "\n")
    meta = []
    for i in range(24):
        name, split = PATTERNS[i % 3], ("train", "train", "train", "train", "valid", "test")[i // 3 % 6]
        _photos(work / "photos" / "img", name, [f"p{i:02d}"], seed + 4000 + i)
        meta.append(f"img/p{i:02d}.jpg,{name},{split}")
    (work / "photos" / "meta.csv").write_text("path,label,split\n" + "\n".join(meta) + "\n")
    for i in range(12):
        _photos(work / "dogs-vs-cats" / "train", "cats", [f"cat.{i}"], seed + 5000 + i)
        _photos(work / "dogs-vs-cats" / "train", "dogs", [f"dog.{i}"], seed + 5100 + i)
    for i in range(5):
        _photos(work / "dogs-vs-cats" / "test1", PATTERNS[1 + i % 2], [str(i + 1)], seed + 5200 + i)
    for i in range(6):
        _photos(work / "incoming", PATTERNS[i % 3], [f"photo{i}"], seed + 6000 + i, suffix=".png")
    (work / "list.csv").write_text("path\nincoming/photo0.png\nincoming/photo1.png\nmissing.png\n")


PAGE_DATA = {"data.md": make_data_layouts}  # a page whose commands read data folders of their own


def clean(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
