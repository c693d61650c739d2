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


def clean(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
