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


def _summary(heads: list[LoadedHead], metrics: list[dict]) -> str:
    splits = list(dict.fromkeys(split for m in metrics for split in m))
    headers = ["head", "kind", "parameters", "input", "dataset", "fit s"]
    for split in splits:
        headers += [f"{split} accuracy", f"{split} macro F1", f"{split} log loss"]
    rows = []
    for loaded, m in zip(heads, metrics):
        record = loaded.record
        params = json.dumps(record["user_params"]) if record.get("user_params") else "defaults"
        seconds = record.get("fit_seconds")
        row = [record["head_id"], record["kind"], params, ", ".join(loaded.inputs.ids), record["data"]["dataset"],
               f"{seconds:.1f}" if seconds is not None else None]
        for split in splits:
            figures = m.get(split, {})
            row += [figures.get("accuracy"), figures.get("macro_f1"), figures.get("log_loss")]
        rows.append(row)
    note = ("<p class=\"muted\">Each head was fitted on its train split; choose between heads on validation and "
            "report the chosen one's test figure (choosing on a split makes its figure optimistic).</p>")
    return html.section("summary", "Heads", html.table(headers, rows, numeric=range(5, len(headers))) + note)


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


def render(heads: list[LoadedHead], store, split: str = "validation") -> str:
    metrics = [full_metrics(loaded) for loaded in heads]
    sections = [_summary(heads, metrics), _per_class(heads, metrics, split),
                _pictures(heads, f"confusion_{split}", "confusion", f"Confusion matrices on {split}",
                          f"no confusion matrix on {split}"),
                _pictures(heads, "learning_curves", "curves", "Learning curves",
                          "a {kind} head is fitted in one go: no learning curves")]
    stores = sorted({str(loaded.store) for loaded in heads})
    return html.page(f"{len(heads)} heads side by side", f"store {', '.join(stores)}; per-class and pictures on "
                                                         f"the {split} split", sections)
