"""The 2-D map of a configuration's images as an inline SVG: a picture that is also interactive.

Each image is a point, coloured by class and shaped by split (circle train, triangle validation,
square test, cross otherwise); mistakes of the cross-validated head get a black ring, label
suspects a thick red one. Hovering a point shows its path, class and split (an SVG <title>):
interactive without JavaScript, so the page stays one self-contained file that any browser opens.
"""
from __future__ import annotations

import numpy as np

from heads.report.html import text

WIDTH, HEIGHT, MARGIN, LEGEND = 760, 560, 12, 170
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
           "#d62728")
UNLABELLED_COLOUR = "#9aa0a6"


def _shape(split: str, x: float, y: float, colour: str, r: float = 3.2) -> str:
    if split == "validation":
        points = f"{x:.1f},{y - r * 1.2:.1f} {x - r:.1f},{y + r * 0.8:.1f} {x + r:.1f},{y + r * 0.8:.1f}"
        return f'<polygon points="{points}" fill="{colour}" fill-opacity="0.75"/>'
    if split == "test":
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" fill="{colour}" '
                f'fill-opacity="0.75"/>')
    if split == "train":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" fill-opacity="0.6"/>'
    return (f'<path d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}L{x + r:.1f},'
            f'{y - r:.1f}" stroke="{colour}" stroke-width="1.4"/>')


def map_svg(table, class_names: list[str]) -> str:
    """The map (heads.inspection.embedding_map's table: x, y, class, split, path, mistake, suspect) as SVG.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per mapped file.
    class_names : list of str
        The dataset's classes, in label order (their colours).

    Returns
    -------
    str
        An <svg> element.
    """
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(class_names)}
    x, y = table["x"].to_numpy(float), table["y"].to_numpy(float)
    span_x, span_y = max(np.ptp(x), 1e-9), max(np.ptp(y), 1e-9)
    plot_w, plot_h = WIDTH - LEGEND - 2 * MARGIN, HEIGHT - 2 * MARGIN
    px = MARGIN + (x - x.min()) / span_x * plot_w
    py = MARGIN + (1 - (y - y.min()) / span_y) * plot_h
    points, rings = [], []
    for (_, row), cx, cy in zip(table.iterrows(), px, py):
        colour = colours.get(row["class"], UNLABELLED_COLOUR)
        label = f"{row['path']} ({row['class'] or 'unlabelled'}, {row['split']})"
        label += "; suspect label" if row["suspect"] else "; cross-validated head wrong" if row["mistake"] else ""
        points.append(f"<g><title>{text(label)}</title>{_shape(row['split'], cx, cy, colour)}</g>")
        if row["suspect"]:
            rings.append(f'<g><title>{text(label)}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" '
                         f'stroke="#cf222e" stroke-width="2.2"/></g>')
        elif row["mistake"]:
            rings.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="none" stroke="#111" stroke-width="1"/>')
    legend = _legend(colours, sorted(set(table["split"])), WIDTH - LEGEND + 8)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" aria-label="2-D map of the images">'
            f'<rect width="{WIDTH - LEGEND}" height="{HEIGHT}" fill="#fff" stroke="#d0d7de"/>'
            + "".join(points) + "".join(rings) + legend + "</svg>")


def _legend(colours: dict[str, str], splits: list[str], left: float) -> str:
    lines, top = [], 24
    for name, colour in colours.items():
        lines.append(f'<circle cx="{left + 6}" cy="{top - 4}" r="5" fill="{colour}"/>'
                     f'<text x="{left + 16}" y="{top}" font-size="13">{text(name)}</text>')
        top += 20
    top += 8
    for split in splits:
        lines.append(_shape(split, left + 6, top - 4, "#57606a", 4.5)
                     + f'<text x="{left + 16}" y="{top}" font-size="13">{text(split)}</text>')
        top += 20
    top += 8
    lines.append(f'<circle cx="{left + 6}" cy="{top - 4}" r="6" fill="none" stroke="#cf222e" stroke-width="2.2"/>'
                 f'<text x="{left + 16}" y="{top}" font-size="13">label suspect</text>')
    top += 20
    lines.append(f'<circle cx="{left + 6}" cy="{top - 4}" r="5" fill="none" stroke="#111"/>'
                 f'<text x="{left + 16}" y="{top}" font-size="13">head wrong (CV)</text>')
    return "<g font-family=\"system-ui, sans-serif\" fill=\"#1f2328\">" + "".join(lines) + "</g>"
