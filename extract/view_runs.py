"""Extraction of a configuration's derived views: augmented training views and test-time views,
each one `run_extraction` of its own configuration after the plain one."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from extract.api import as_extractor, run_extraction
from extract.augment import AugmentSpec, tta_views
from extract.dataset_plan import checked_data
from extract.errors import OptionError
from extract.extractor import Extractor
from extract.options import ExtractOptions, RunOptions
from extract.run_summary import RunSummary
from store.config import ExtractorConfig
from store.datasets import DatasetIndex


def run_views(views: int, spec: AugmentSpec, data: str | Path | DatasetIndex | None, store: str | Path,
              extractor: ExtractOptions | ExtractorConfig | Extractor, options: RunOptions | None = None,
              views_splits: list[str] | None = None, on_start: Callable[[int], None] | None = None,
              on_progress: Callable[[int], None] | None = None,
              on_worker_progress: Callable[[str, int], None] | None = None,
              progress: bool | None = None) -> list[RunSummary]:
    """The plain configuration, then `views` augmented views of the images of `views_splits`
    (default train: augmenting validation images serves no purpose), one configuration each.

    Parameters
    ----------
    views : int
        How many augmented views (0: the plain configuration only).
    spec : AugmentSpec
        The random transforms each view draws from (a fixed draw per image and view).
    data : str, Path or DatasetIndex
        As for `run_extraction`.
    store : str or Path
        The feature store.
    extractor : ExtractOptions, ExtractorConfig or Extractor
        The plain configuration; each view derives its own from it.
    options : RunOptions, optional
        How to run, as for `run_extraction`.
    on_start, on_progress, on_worker_progress : callable, optional
        As for `run_extraction`, called for each configuration's run.
    views_splits : list of str, optional
        The splits the views are extracted for (default: train).
    progress : bool, optional
        As for `run_extraction`: one bar per configuration.

    Returns
    -------
    list of RunSummary
        The plain configuration's run first, then one per view.
    """
    if views < 0:
        raise OptionError(f"views must be 0 or more. Received: {views}")
    options = options or RunOptions()
    return _plain_then_views(data, store, extractor, options, [spec.for_view(view) for view in range(views)],
                             replace(options, splits=views_splits or ["train"]),
                             {"on_start": on_start, "on_progress": on_progress,
                              "on_worker_progress": on_worker_progress, "progress": progress})


def run_tta(tta: int, data: str | Path | DatasetIndex, store: str | Path,
            extractor: ExtractOptions | ExtractorConfig | Extractor, options: RunOptions | None = None,
            on_start: Callable[[int], None] | None = None, on_progress: Callable[[int], None] | None = None,
            on_worker_progress: Callable[[str, int], None] | None = None,
            progress: bool | None = None) -> list[RunSummary]:
    """The plain configuration, then the first `tta` fixed test-time views (extract.augment.TTA_VIEWS) of
    every split, one configuration each: what `heads eval/predict --tta` read instead of computing.

    Parameters
    ----------
    tta : int
        How many test-time views (a horizontal flip first; see `tta_views`).
    data : str, Path or DatasetIndex
        As for `run_extraction`.
    store : str or Path
        The feature store.
    extractor : ExtractOptions, ExtractorConfig or Extractor
        The plain configuration; each view derives its own from it.
    options : RunOptions, optional
        How to run, as for `run_extraction`.
    on_start, on_progress, on_worker_progress : callable, optional
        As for `run_extraction`, called for each configuration's run.
    progress : bool, optional
        As for `run_extraction`: one bar per configuration.

    Returns
    -------
    list of RunSummary
        The plain configuration's run first, then one per view.
    """
    views = tta_views(tta)  # refuses a count out of range before anything is extracted
    options = options or RunOptions()
    return _plain_then_views(data, store, extractor, options, [view.augment() for view in views], options,
                             {"on_start": on_start, "on_progress": on_progress,
                              "on_worker_progress": on_worker_progress, "progress": progress})


def _plain_then_views(data, store, extractor, options: RunOptions, augments: list, view_options: RunOptions,
                      callbacks: dict) -> list[RunSummary]:
    """The plain configuration's run, then one run per augmentation (each its own derived configuration)."""
    checked_data(data, store, options)
    plain = as_extractor(extractor, options.xla)
    summaries = [run_extraction(data, store, plain, options, **callbacks)]
    for augment in augments:
        summaries.append(run_extraction(data, store, plain.derive(augment=augment), view_options, **callbacks))
    return summaries
