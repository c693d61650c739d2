"""The data inspection page of a configuration: duplicates and leaks, label suspects, outliers, the map.

Every section is one analysis of heads.inspection (from the stored features, cached in the
store); pictures are thumbnails of the files as they are now (a file that is gone is shown by
its path, without a thumbnail). One self-contained HTML file, like the head pages.
"""
from __future__ import annotations

from heads.inspection import Inspection
from heads.report import html
from heads.report.map_svg import map_svg

SECTIONS = ("data", "duplicates", "suspects", "outliers", "map")


def _count(n: int, what: str) -> str:
    """'1 image', '2 images' (the plural is the word with an s)."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _picture(rows, path: str) -> str:
    uri = html.thumbnail(rows(path))
    return f'<img src="{uri}" alt="{html.text(path)}">' if uri else '<div class="missing">file not found here</div>'


def _card(rows, path: str, lines: list[str]) -> str:
    return (f'<div class="card">{_picture(rows, path)}' + "".join(f"<div>{line}</div>" for line in lines)
            + f'<div class="path">{html.text(path)}</div></div>')


def _data(record: dict, notes: list[str]) -> str:
    pairs = [("store", record["store"]), ("dataset", f"{record['dataset']} (digest {record['digest'][:16]})"),
             ("configuration", record["config_id"]), ("vectors", record["reduced"]),
             ("images", f"{record['rows']} files, {record['contents']} distinct contents")]
    return html.section("data", "Data", html.key_values(pairs) + html.notes(notes))


def _duplicates(found: Inspection, locate) -> str:
    record, table = found.record, found.table
    body = (f"<p>{record['groups']} groups ({record['exact_groups']} of identical files, {record['near_groups']} of "
            f"near duplicates at cosine &ge; {record['threshold']:g}); {_count(record['leaks'], 'validation/test file')} "
            f"with a duplicate in train. {html.text(record['method'])}.</p>")
    for group, members in list(table.groupby("group", sort=False))[:30]:
        cards = [_card(locate, row["path"], [f"{html.text(row['split'])} / {html.text(row['class'])}",
                                             f"{row['kind']} {row['similarity']:.3f}"
                                             + (' <span class="wrong">leak</span>' if row["leak"] else "")])
                 for _, row in members.iterrows()]
        body += f"<h3>group {group}</h3><div class=\"gallery\">{''.join(cards)}</div>"
    if table.empty:
        body += "<p class=\"muted\">No duplicates.</p>"
    return html.section("duplicates", "Duplicates and leaks", body)


def _suspects(found: Inspection, locate, gallery: int) -> str:
    record, table = found.record, found.table
    body = (f"<p>The images whose given label is least likely, per split: out-of-fold probabilities of a "
            f"{html.text(record['kind'])} head ({record['cv']}-fold cross-validation) on the "
            f"{html.text(record['train_split'])} split, the head fitted on it elsewhere. "
            f"<span class=\"wrong\">flagged</span>: cleanlab's find_label_issues. Flagged per split: "
            f"{html.text(', '.join(f'{k} {v}' for k, v in record['issues'].items()) or 'none')}.</p>")
    for split, ranked in table.groupby("split", sort=False):
        shown = ranked.head(gallery)
        cards = [_card(locate, row["path"], [
            f"#{row['rank']} given <span class=\"true\">{html.text(row['given'])}</span> "
            f"{row['p_given']:.3f}",
            f"suggested <span class=\"wrong\">{html.text(row['suggested'])}</span> {row['p_suggested']:.3f}"
            + (' <span class="wrong">flagged</span>' if row["issue"] else "")]) for _, row in shown.iterrows()]
        body += (f"<h3>{html.text(split)}: the {len(shown)} least likely labels of {len(ranked)}</h3>"
                 f"<div class=\"gallery\">{''.join(cards)}</div>")
    return html.section("suspects", "Label suspects", body)


def _outliers(found: Inspection, locate, gallery: int) -> str:
    record, table = found.record, found.table
    body = (f"<p>Distance (1 - cosine) to the {record['k']}-th nearest other image; flagged above "
            f"{record['fence']:.3f} ({html.text(record['fence_rule'])}): {_count(record['outliers'], 'image')}.</p>")
    cards = [_card(locate, row["path"], [f"{html.text(row['split'])} / {html.text(row['class'])}",
                                         f"score {row['score']:.3f}" + (' <span class="wrong">outlier</span>'
                                                                        if row["outlier"] else "")])
             for _, row in table.head(gallery).iterrows()]
    return html.section("outliers", "Outliers", f"{body}<div class=\"gallery\">{''.join(cards)}</div>")


def _map(found: Inspection, class_names: list[str]) -> str:
    record = found.record
    body = (f"<p>{record['mapped']} images, {html.text(record['method'])}. Hover a point for its file. "
            f"{_count(record['suspects'], 'label suspect')}, {_count(record['mistakes'], 'image')} the "
            f"cross-validated head gets wrong.</p><figure>{map_svg(found.table, class_names)}</figure>")
    return html.section("map", "Map of the features", body)


def render(duplicates: Inspection, suspects: Inspection, outliers: Inspection, mapped: Inspection,
           class_names: list[str], locate, gallery: int) -> str:
    """The page's HTML (`locate(path)` gives a row's file, or None when it is gone)."""
    record = duplicates.record
    notes = list(dict.fromkeys(duplicates.notes + suspects.notes + outliers.notes + mapped.notes))
    sections = [_data(record, notes), _duplicates(duplicates, locate), _suspects(suspects, locate, gallery),
                _outliers(outliers, locate, gallery), _map(mapped, class_names)]
    subtitle = f"configuration {record['config_id']}, dataset {record['dataset']}, {record['rows']} images"
    return html.page(f"Inspecting {record['dataset']}", subtitle, sections)
