"""Several heads side by side on one page: the headline numbers of every split, per-class F1 on one
split, and each head's confusion matrix and learning curves next to the others'."""
from __future__ import annotations

import json

from heads.artifact import LoadedHead
from heads.report import html
from heads.report.content import full_metrics, head_pictures

SECTIONS = ("summary", "per-class", "confusion", "curves")  # the page's anchors, in order


def _label(loaded: LoadedHead) -> str:
    params = ", ".join(f"{k}={json.dumps(v)}" for k, v in (loaded.record.get("user_params") or {}).items())
    return f"{loaded.head_id} ({params or 'defaults'})"


def _best_cells(rows: list[list], columns: dict[int, bool]) -> list[tuple[int, int]]:
    """(row, column) of the best figure of each column: the highest, or the lowest where `columns` says so."""
    best = []
    for column, lowest in columns.items():
        figures = [(row[column], r) for r, row in enumerate(rows) if isinstance(row[column], (int, float))]
        if figures:
            top = min(figures)[0] if lowest else max(figures)[0]
            best += [(r, column) for value, r in figures if value == top]
    return best


def _summary(heads: list[LoadedHead], metrics: list[dict], names: list[str]) -> str:
    splits = list(dict.fromkeys(split for m in metrics for split in m))
    headers = ["head", "kind", "parameters", "input", "dataset", "fit s"]
    for split in splits:
        headers += [f"{split} accuracy", f"{split} macro F1", f"{split} log loss"]
    rows = []
    for loaded, m, name in zip(heads, metrics, names):
        record = loaded.record
        params = json.dumps(record["user_params"]) if record.get("user_params") else "defaults"
        seconds = record.get("fit_seconds")
        row = [record["head_id"], record["kind"], params, name, record["data"]["dataset"],
               f"{seconds:.1f}" if seconds is not None else None]
        for split in splits:
            figures = m.get(split, {})
            row += [figures.get("accuracy"), figures.get("macro_f1"), figures.get("log_loss")]
        rows.append(row)
    best = _best_cells(rows, {6 + 3 * i + k: k == 2 for i in range(len(splits)) for k in range(3)})
    note = ("<p class=\"muted\">Best first (by the compared split's accuracy, then log loss); \u2605 marks the best "
            "figure of each column. Each head was fitted on its train split; choose between heads on validation and "
            "report the chosen one's test figure (choosing on a split makes its figure optimistic).</p>")
    return html.section("summary", "Heads", html.table(headers, rows, numeric=range(5, len(headers)), best=best)
                        + note)


def _per_class(heads: list[LoadedHead], metrics: list[dict], split: str) -> str:
    names = list(dict.fromkeys(name for m in metrics for name in m.get(split, {}).get("per_class", {})))
    if not names:
        return html.section("per-class", f"Per-class F1 on {split}",
                            f"<p class=\"muted\">No head has per-class figures on the {html.text(split)} split.</p>")
    rows = [[loaded.head_id, *(m.get(split, {}).get("per_class", {}).get(name, {}).get("f1") for name in names)]
            for loaded, m in zip(heads, metrics)]
    return html.section("per-class", f"Per-class F1 on {split}",
                        html.table(["head", *names], rows, numeric=range(1, len(names) + 1)))


def _pictures(heads: list[LoadedHead], stem: str, anchor: str, title: str, missing: str) -> str:
    cells = []
    for loaded in heads:
        picture = head_pictures(loaded).get(stem)
        inner = (html.png_file(picture, f"{stem} of {loaded.head_id}") if picture is not None
                 else f"<p class=\"muted\">{html.text(missing.format(kind=loaded.kind.name))}</p>")
        cells.append(f"<div><h3>{html.text(_label(loaded))}</h3>{inner}</div>")
    return html.section(anchor, title, '<div class="side">' + "".join(cells) + "</div>")


def render(heads: list[LoadedHead], store, split: str = "validation", names: list[str] | None = None) -> str:
    """The page: `heads` in the order given (heads.report.api sorts them best first); `names` says what each
    reads (the configurations' readable names), the ids when not given."""
    metrics = [full_metrics(loaded) for loaded in heads]
    names = names or [", ".join(loaded.inputs.ids) for loaded in heads]
    sections = [_summary(heads, metrics, names), _per_class(heads, metrics, split),
                _pictures(heads, f"confusion_{split}", "confusion", f"Confusion matrices on {split}",
                          f"no confusion matrix on {split}"),
                _pictures(heads, "learning_curves", "curves", "Learning curves",
                          "a {kind} head is fitted in one go: no learning curves")]
    stores = sorted({str(loaded.store) for loaded in heads})
    return html.page(f"{len(heads)} heads side by side", f"store {', '.join(stores)}; best first on the {split} "
                                                         f"split, per-class and pictures on it too", sections)
