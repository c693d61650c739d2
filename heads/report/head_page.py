"""The report page of one head: record and parameters, data binding, metrics, confusion matrices,
learning curves, and the most confidently wrong images of every split."""
from __future__ import annotations

import json
from pathlib import Path

from heads.artifact import LoadedHead
from heads.kinds.folds import judged_by
from heads.record import chosen_on_validation
from heads.report import html
from heads.report.content import full_metrics, head_pictures, input_rows, mistakes, parameters

SECTIONS = ("record", "data", "metrics", "confusion", "curves", "mistakes")  # the page's anchors, in order


def _record(loaded: LoadedHead) -> str:
    record = loaded.record
    pairs = [("head", record["head_id"]), ("kind", record["kind"]), ("folder", loaded.folder),
             ("created", record.get("created")), ("fit seconds", record.get("fit_seconds")),
             ("classes (probability columns)", ", ".join(loaded.columns)),
             ("reduce / class weight / seed", f"{record.get('reduce')} / {record.get('class_weight')} / "
                                              f"{record.get('seed')}"),
             ("set by the user", json.dumps(record["user_params"]) if record.get("user_params") else "defaults")]
    if record.get("search"):
        search = record["search"]
        pairs.append(("search", f"best {json.dumps(search['best_params'])}: {judged_by(search)} accuracy "
                                f"{search['best_cv_accuracy']:.4f} (train split only)"))
    if record.get("finetune"):
        tuned = record["finetune"]
        pairs += [("fine-tuned from", tuned.get("from_head")), ("reopened", ", ".join(tuned.get("reopened") or [])),
                  ("epochs run / kept", f"{tuned.get('epochs_run')} / {tuned.get('best_epoch')}")]
    params = parameters(record)
    body = html.key_values(pairs)
    body += "<h3>Parameters</h3>" + html.table(["parameter", "value"], [[k, json.dumps(v)] for k, v in params.items()])
    rows = input_rows(loaded)
    body += "<h3>Input</h3>" + html.table(list(rows[0]), [list(r.values()) for r in rows])
    return html.section("record", "Head", body)


def _data(loaded: LoadedHead, today_notes: list[str]) -> str:
    data = loaded.record["data"]
    pairs = [("dataset", data["dataset"]), ("data root", data["data_root"]), ("digest", data["digest"]),
             ("images per split", ", ".join(f"{k} {v}" for k, v in data["counts"].items())),
             ("fitted on split", data.get("train_split", "train")),
             ("rows file", data.get("rows_file"))]
    body = html.key_values(pairs)
    if data.get("notes"):
        body += "<h3>Notes when it was fitted</h3>" + html.notes(data["notes"])
    if today_notes:
        body += "<h3>Notes today</h3>" + html.notes(today_notes)
    return html.section("data", "Data", body)


def _honesty(record: dict) -> str:
    """Which splits' figures are honest: nothing may have been chosen on the split a figure is reported on."""
    if chosen_on_validation(record):
        return ("Early stopping watched the validation split (this head's, or an ensemble member's), so its "
                "figures are optimistic: the test split's figures are the honest ones.")
    return ("Fitted, and any search or early stopping done, on the train split only: the other splits' figures "
            "are honest.")


def _metrics(metrics: dict, honesty: str) -> str:
    if not metrics:
        return html.section("metrics", "Metrics", "<p class=\"muted\">No metrics.json in the head folder.</p>")
    summary = html.table(["split", "images", "accuracy", "balanced accuracy", "macro F1", "log loss"],
                         [[split, m.get("n"), m.get("accuracy"), m.get("balanced_accuracy"), m.get("macro_f1"),
                           m.get("log_loss")] for split, m in metrics.items()], numeric=range(1, 6))
    body = summary + f"<p class=\"muted\">{html.text(honesty)}</p>"
    for split, m in metrics.items():
        body += f"<h3>Per class: {html.text(split)}</h3>" + html.table(
            ["class", "precision", "recall", "F1", "support"],
            [[name, row["precision"], row["recall"], row["f1"], row["support"]]
             for name, row in m.get("per_class", {}).items()], numeric=range(1, 5))
    return html.section("metrics", "Metrics", body)


def _confusion(metrics: dict, pictures: dict[str, Path]) -> str:
    body = ""
    for split, m in metrics.items():
        labels = m.get("confusion_labels", [])
        body += f"<h3>{html.text(split)}</h3><div class=\"figures\">"
        if f"confusion_{split}" in pictures:
            body += html.png_file(pictures[f"confusion_{split}"], f"confusion matrix, {split}")
        body += html.table(["true \\ predicted", *labels],
                           [[name, *counts] for name, counts in zip(labels, m.get("confusion_matrix", []))],
                           numeric=range(1, len(labels) + 1)) + "</div>"
    return html.section("confusion", "Confusion matrices", body or "<p class=\"muted\">No metrics.</p>")


def _curves(loaded: LoadedHead, pictures: dict[str, Path]) -> str:
    if "learning_curves" in pictures:
        body = html.png_file(pictures["learning_curves"], "learning curves",
                             "loss and accuracy per epoch; the dashed line is the epoch whose weights were kept")
    else:
        body = (f"<p class=\"muted\">A {html.text(loaded.kind.name)} head is fitted in one go, not epoch by epoch: "
                "no learning curves.</p>")
    return html.section("curves", "Learning curves", body)


def _card(mistake) -> str:
    uri = html.thumbnail(mistake.path)
    picture = (f'<img src="{uri}" alt="{html.text(mistake.shown_path)}">' if uri
               else '<div class="missing">not readable here</div>')
    return (f'<div class="card">{picture}<div>true <span class="true">{html.text(mistake.true_class)}</span></div>'
            f'<div>predicted <span class="wrong">{html.text(mistake.predicted_class)}</span> '
            f'{mistake.probability:.3f}</div><div class="path">{html.text(mistake.shown_path)}</div></div>')


def _mistakes(found, gallery: int) -> str:
    body = (f"<p class=\"muted\">Per split, the {gallery} wrong images the head was most sure of (its probability "
            "of the class it chose), from the stored features: often mislabelled, ambiguous or unusual images.</p>")
    for split in found:
        body += f"<h3>{html.text(split.split)}: {split.wrong} wrong of {split.scored}</h3>"
        if split.shown:
            body += '<div class="gallery">' + "".join(_card(m) for m in split.shown) + "</div>"
        elif gallery:
            body += "<p class=\"muted\">No wrong image in this split.</p>"
    return html.section("mistakes", "Most confidently wrong", body)


def render(loaded: LoadedHead, gallery: int, store=None) -> str:
    metrics = full_metrics(loaded)
    pictures = head_pictures(loaded)
    found, today_notes = mistakes(loaded, gallery, store)
    validation = metrics.get("validation", {})
    subtitle = (f"{loaded.kind.name} head on {', '.join(loaded.inputs.ids)}, dataset {loaded.record['data']['dataset']}"
                + (f"; validation accuracy {validation['accuracy']:.4f}" if validation.get("accuracy") is not None
                   else ""))
    sections = [_record(loaded), _data(loaded, today_notes), _metrics(metrics, _honesty(loaded.record)),
                _confusion(metrics, pictures), _curves(loaded, pictures), _mistakes(found, gallery)]
    return html.page(f"Head {loaded.head_id}", subtitle, sections)
