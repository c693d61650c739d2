"""Progress bars of the Python API (tqdm.auto: a widget in a notebook, a bar on stderr in a terminal).

One convention for every function that takes `progress` (run_extraction, LoadedHead.predict_proba,
predict_frame): None shows a bar in a notebook or when stderr is a terminal, True always, False never.
The command-line tools draw their own (rich) bars through callbacks and pass none of this.
"""
from __future__ import annotations

import sys
from typing import Callable


def shows_progress(progress: bool | None) -> bool:
    """Whether a bar is drawn. tqdm's own default (disable=None) reads a notebook's stderr as "not a
    terminal", hence the check for a running kernel."""
    if progress is not None:
        return bool(progress)
    return "ipykernel" in sys.modules or bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(total: int | None, progress: bool | None, description: str = "images"):
    """A tqdm bar on stderr counting images, cleared when closed (`leave=False`); a disabled one (every
    call a no-op) when `shows_progress(progress)` is false."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="img", file=sys.stderr, disable=not shows_progress(progress),
                leave=False)


class ExtractionBar:
    """run_extraction's callbacks with a bar in front: the bar opens when the run knows how many images it
    will extract (`on_start`), moves with each batch (`on_progress`), and the caller's own callbacks, if
    any, are still called."""

    def __init__(self, description: str, on_start: Callable[[int], None] | None,
                 on_progress: Callable[[int], None] | None):
        self.description, self._on_start, self._on_progress = description, on_start, on_progress
        self.bar = None

    def on_start(self, total: int) -> None:
        if total > 0:  # nothing to extract: no bar to draw and clear
            self.bar = progress_bar(total, True, self.description)
        if self._on_start:
            self._on_start(total)

    def on_progress(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)
        if self._on_progress:
            self._on_progress(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
