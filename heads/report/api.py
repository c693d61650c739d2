"""The report API: a head, or several side by side, as one self-contained HTML page.

    report_head(head)           -> <head folder>/report-<head id>.html (or in `out`)
    compare_heads(store, heads) -> <store>/heads/compare.html (or in `out`)
    inspect_data(store, config) -> <store>/inspect-<config id>.html (or in `out`)

Pictures are embedded as data URIs (heads.report.html), so each page is one file. A page is
written through the store's staged write (never seen half-written) and replaced when made again.
"""
from __future__ import annotations

from pathlib import Path

from heads.artifact import heads_dir, list_heads, load_head, resolve_head
from heads.errors import HeadError
from heads.evaluate import rank_key
from heads.outputs import HTML_PAGE, refuse_overwrite, refuse_record_folder, refuse_record_path
from heads.report import compare_page, head_page
from store import ConfigNames, FeatureStore, is_store, write_bytes

GALLERY = 12  # most confidently wrong images shown per split


def report_head(head: str | Path, out: str | Path | None = None, store: str | Path | None = None,
                gallery: int = GALLERY, force: bool = False) -> Path:
    """Write the report page of one head: metrics, confusion matrices, curves, its most confidently
    wrong images.

    Parameters
    ----------
    head : str or Path
        A head folder, or a head id (or unique prefix) with `store`.
    out : str or Path, optional
        The folder to write the page in (default: the head's folder).
    store : str or Path, optional
        The store the head and its features are read from (default: the head's own).
    gallery : int, default 12
        Most confidently wrong images shown per split.
    force : bool, default False
        Replace a file there that is not a page of this tool (heads.outputs).

    Returns
    -------
    Path
        The page (`report-<head id>.html`).

    Raises
    ------
    HeadError
        On a bad option or a head that cannot be read.
    """
    if gallery < 0:
        raise HeadError(f"--gallery is a number of images per split, 0 or more. Received: --gallery {gallery}")
    loaded = load_head(resolve_head(head, store))
    folder = Path(out) if out is not None else loaded.folder
    _check_folder(folder)
    target = folder / f"report-{loaded.head_id}.html"
    _check_target(target, force)
    write_bytes(target, head_page.render(loaded, gallery, store).encode("utf-8"))
    return target


def compare_heads(store: str | Path, heads: list[str] | None = None, out: str | Path | None = None,
                  split: str = "validation", force: bool = False) -> Path:
    """Write one page with several heads of a store side by side (all of them when `heads` is empty), best first
    by `split` accuracy then log loss; a split no head was scored on is refused before anything is written.

    Parameters
    ----------
    store : str or Path
        The feature store.
    heads : list of str, optional
        Head ids (or unique prefixes); default: every head of the store.
    out : str or Path, optional
        The folder to write the page in (default: the store's heads folder).
    split : str, default "validation"
        The split heads are ranked by.
    force : bool, default False
        Replace a file there that is not a page of this tool (heads.outputs).

    Returns
    -------
    Path
        The page.

    Raises
    ------
    HeadError
        When no head matches, or none was scored on `split`.
    """
    if heads:
        folders = list(dict.fromkeys(resolve_head(h, store) for h in heads))
    else:
        folders = [folder for folder, _ in list_heads(store)]
    if not folders:
        raise HeadError(f"No heads to compare in store {store} (`heads fit --store {store} --kind logreg` makes one).")
    loaded = [load_head(folder) for folder in folders]
    scored = {s for head in loaded for s in head.record.get("metrics", {})}
    if split not in scored:  # refused before anything is written: an empty page would replace a good one
        raise HeadError(f"No head compared has figures on the {split!r} split. Splits they have: "
                        f"{', '.join(sorted(scored)) or 'none'}. Received: --split {split}")
    loaded.sort(key=lambda head: rank_key(head.record, split))
    folder = Path(out) if out is not None else heads_dir(store)
    _check_folder(folder)
    target = folder / "compare.html"
    _check_target(target, force)
    write_bytes(target, compare_page.render(loaded, store, split, _input_names(loaded, store)).encode("utf-8"))
    return target


def _input_names(heads: list, store: str | Path) -> list[str]:
    """What each head reads, by the readable names of the store's configurations (ids where it lacks them)."""
    names = FeatureStore(store).names() if is_store(store) else ConfigNames([])
    return [" + ".join(names.name(config_id) for config_id in head.inputs.ids) for head in heads]


def inspect_data(store: str | Path, config: str | None = None, dataset: str | None = None,
                 out: str | Path | None = None, gallery: int = 20, reduce: str | None = "auto",
                 threshold: float | None = None, kind: str = "logreg", seed: int = 0, force: bool = False) -> Path:
    """Write the data inspection page of a configuration: duplicates and leaks, label suspects, outliers, map.

    Parameters
    ----------
    store : str or Path
        The feature store.
    config : str, optional
        Configuration id, id prefix or backbone (the only one when None).
    dataset : str, optional
        Dataset of the store.
    out : str or Path, optional
        Folder to write inspect-<config id>.html in (default: the store).
    gallery : int
        Images shown per split among the suspects, and outliers shown.
    reduce : str, optional
        How spatial features become vectors (auto: the heads' rule).
    threshold : float, optional
        Near-duplicate cosine similarity (default: heads.inspection's).
    kind : str
        The head kind that scores the suspects.
    seed : int
        Seed of the folds, the head and the map.
    force : bool
        Replace a file of the page's name that is not a page of this tool.

    Returns
    -------
    Path
        The page written.
    """
    from heads.inspection import embedding_map, find_duplicates, find_outliers, find_suspects
    from heads.inspection.rows import file_locator
    from store import FeatureStore
    from heads.report import inspect_page

    if isinstance(gallery, bool) or not isinstance(gallery, int) or gallery < 0:
        raise HeadError(f"--gallery is a number of images, 0 or more. Received: --gallery {gallery!r}")
    if out is not None:
        refuse_record_folder(out)  # before the analyses: a refusal costs nothing
    duplicates = find_duplicates(store, config, dataset, **({"threshold": threshold} if threshold else {}),
                                 reduce=reduce)
    config_id, dataset = duplicates.record["config_id"], duplicates.record["dataset"]
    suspects = find_suspects(store, config_id, dataset, kind=kind, reduce=reduce, seed=seed)
    outliers = find_outliers(store, config_id, dataset, reduce=reduce)
    mapped = embedding_map(store, config_id, dataset, reduce=reduce, seed=seed)
    index = FeatureStore(store).view(config_id, dataset).index
    folder = Path(out) if out is not None else Path(store)
    _check_folder(folder)
    target = folder / f"inspect-{config_id}.html"
    _check_target(target, force)
    page = inspect_page.render(duplicates, suspects, outliers, mapped, list(index.classes), file_locator(index),
                               gallery)
    write_bytes(target, page.encode("utf-8"))
    return target


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise HeadError(f"--out is a folder to write the page in. Received: --out {folder}")


def _check_target(target: Path, force: bool) -> None:
    """A page goes nowhere near a store's or a head's records (its own report page in a head folder aside),
    and replaces only a page of this tool unless `force` (heads.outputs)."""
    refuse_record_path(target, allowed_in_head=("report-*.html",))
    refuse_overwrite(target, "an HTML page of this tool", HTML_PAGE, force=force)
