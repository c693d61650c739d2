"""What one extraction run did: the summary `run_extraction` returns and `extract run` prints."""
from __future__ import annotations

from dataclasses import dataclass, field

from extract.scan import Note
from store.config import ExtractorConfig


@dataclass
class RunSummary:
    """What one `run_extraction` did (printed by `extract run`, recorded in the store's runs).

    Parameters
    ----------
    config : ExtractorConfig
        The configuration extracted.
    images : int
        Usable image files the scan found.
    extracted, cached : int
        Images computed now / found in the store.
    rejected : list of (str, str)
        Files that cannot be used: (path, reason).
    changed : int
        Files whose content changed since the last run.
    skipped_hidden, skipped_non_image : int
        Files left out: hidden ones, and files that are not images.
    seconds : float
        The whole run: scan, model build, extraction, index.
    extract_seconds : float
        The images through the pipeline and the base (`images_per_second` divides by it).
    store_bytes : int
        The store's size on disk after the run.
    split_counts : dict
        Images per split.
    engine : str
        How the work was dispatched (local, ray).
    workers : dict
        Worker -> (images, images/s), for a distributed run.
    slice : str, optional
        "i/n" for a `--shard` run (the counts above are the slice's).
    devices : dict
        Worker -> device ("GPU:0 (name)" or "CPU"); empty when nothing ran.
    dataset : str
        The name of the dataset the run indexed.
    files_read, files_known : int
        Files the scan opened / knew by their stat alone (store.stat_cache).
    notes : list of Note
        The scan's notes: files left out, merged, moved...
    dataset_note : str, optional
        One line when the dataset got a new index version, saying why.
    preprocess_from : str
        Where the preprocessing came from (manifest, known file...).
    weights_note : str, optional
        One line when the weights' preprocessing had to be assumed.
    runtimes : dict
        Worker -> what computed its features (a converted base: which file, converted or read).
    stages : dict
        Seconds per stage (read, decode, resize, wait, base, write); empty when nothing ran.
    input_path : str
        How the images were prepared ("tf.data", "N decode workers").
    """
    config: ExtractorConfig
    images: int  # usable image files found by the scan
    extracted: int
    cached: int
    rejected: list[tuple[str, str]] = field(default_factory=list)
    changed: int = 0
    skipped_hidden: int = 0
    skipped_non_image: int = 0
    seconds: float = 0.0  # the whole run: scan, model build, extraction, index
    extract_seconds: float = 0.0  # the images through the pipeline and the base
    store_bytes: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)
    engine: str = "local"  # how the work was dispatched (engine, workers, retries)
    workers: dict[str, tuple[int, float]] = field(default_factory=dict)  # worker -> (images, images/s)
    slice: str | None = None  # "i/n" for a --shard run: the counts above are the slice's
    devices: dict[str, str] = field(default_factory=dict)  # worker -> "GPU:0 (name)" or "CPU"; {} when none ran
    runtimes: dict[str, str] = field(default_factory=dict)  # worker -> what computed its features
    dataset: str = ""  # the name of the dataset the run indexed
    files_read: int = 0  # files the scan opened (the others were known by their stat: store.stat_cache)
    files_known: int = 0
    notes: list[Note] = field(default_factory=list)  # the scan's notes: files left out, merged, moved...
    dataset_note: str | None = None  # one line when the dataset got a new index version, saying why
    preprocess_from: str = ""  # where the configuration's preprocessing came from (manifest, known file...)
    weights_note: str | None = None  # one line when the weights' preprocessing had to be assumed
    stages: dict = field(default_factory=dict)  # seconds per stage (extract.stages); {} when nothing ran
    input_path: str = ""  # how the images were prepared: "tf.data", "N decode workers"

    @property
    def images_per_second(self) -> float:
        return self.extracted / self.extract_seconds if self.extract_seconds > 0 else 0.0
