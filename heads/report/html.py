"""Plain HTML + CSS pieces for the report pages: escaped text, tables, images as data URIs.

Every picture is embedded in the page as a `data:` URI (PNG for figures, JPEG for thumbnails),
so a page is one self-contained file: it can be mailed, attached to a ticket or opened from
anywhere, and nothing it shows can go missing. No JavaScript.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Iterable

from PIL import Image, ImageOps, UnidentifiedImageError

from store.printable import printable_text

THUMBNAIL = 160  # pixels, the longer side

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
h3 { margin-bottom: 0.3em; }
.subtitle { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: 700; background: #dafbe1; }
.note { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 0.3em 0.6em; margin: 0.3em 0; }
.muted { color: #57606a; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figures figure { margin: 0; } figcaption { color: #57606a; font-size: 0.85em; }
img.figure { max-width: 100%; border: 1px solid #d0d7de; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 0.8em; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em; font-size: 0.85em; background: #fff; }
.card img { display: block; margin: 0 auto 0.4em; max-width: 160px; max-height: 160px; }
.card .missing { height: 120px; display: flex; align-items: center; justify-content: center; background: #f6f8fa;
                 color: #57606a; margin-bottom: 0.4em; }
.card .path { color: #57606a; word-break: break-all; }
.wrong { color: #cf222e; font-weight: 600; } .true { color: #1a7f37; font-weight: 600; }
.side { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 1em; }
"""


def text(value) -> str:
    """Escaped for HTML, control characters made visible (store.printable): a name never hides or fakes text."""
    return html.escape("" if value is None else printable_text(value))


def number(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return text(value)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_file(path: Path, alt: str, caption: str = "") -> str:
    """A PNG file embedded as a figure (the file's bytes as they are)."""
    uri = data_uri(Path(path).read_bytes(), "image/png")
    return figure(uri, alt, caption)


def figure(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{text(caption)}</figcaption>" if caption else ""
    return f'<figure><img class="figure" src="{uri}" alt="{text(alt)}">{cap}</figure>'


def thumbnail(path: Path | None) -> str | None:
    """The image as a small JPEG data URI (EXIF orientation applied), or None when it cannot be read."""
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                flat = Image.new("RGB", image.size, "white")
                flat.paste(image, mask=image.getchannel("A"))
                image = flat
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=82)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return data_uri(buffer.getvalue(), "image/jpeg")


def table(headers: list[str], rows: Iterable[list], numeric: Iterable[int] = (),
          best: Iterable[tuple[int, int]] = ()) -> str:
    """An HTML table; `rows` cells are plain values (escaped here); columns in `numeric` right-aligned;
    the (row, column) cells in `best` marked as the best figure of their column (bold, shaded, a star)."""
    numeric, best = set(numeric), set(best)

    def cell(r: int, i: int, value) -> str:
        marked = (r, i) in best
        shown = (number(value) if i in numeric else text(value)) + (" \u2605" if marked else "")
        classes = " ".join(["num"] * (i in numeric) + ["best"] * marked)
        return f'<td class="{classes}">{shown}</td>' if classes else f"<td>{shown}</td>"

    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(r, i, c) for i, c in enumerate(row)) + "</tr>" for r, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    return "<table><tbody>" + "".join(f"<th>{text(k)}</th><td>{text(v)}</td>".join(("<tr>", "</tr>"))
                                      for k, v in pairs) + "</tbody></table>"


def notes(lines: Iterable[str]) -> str:
    return "".join(f'<p class="note">{text(line)}</p>' for line in lines)


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{text(anchor)}"><h2>{text(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{text(title)}</title>"
            f"<style>{STYLE}</style></head><body><header><h1>{text(title)}</h1>"
            f"<p class=\"subtitle\">{text(subtitle)}</p></header>\n" + "\n".join(sections) + "\n</body></html>\n")
