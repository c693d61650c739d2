"""bench/gpu_check.py's pieces that need no model: which images, how two runs compare, the Markdown table."""
from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def pick_images(data: Path, count: int) -> list[str]:
    """The first files of every class folder, in turn, so both classes are in the sample."""
    folders = sorted({p.parent for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES})
    lists = [sorted(p for p in f.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders]
    picked: list[str] = []
    for row in range(max((len(files) for files in lists), default=0)):
        picked += [str(files[row]) for files in lists if row < len(files)]
    return picked[:count]


def jpeg_folder(photos: list[str], count: int, folder: Path) -> None:
    """`count` JPEGs in folder/<class>/: the photos, then re-encoded variants of them (the 8 mirror and
    rotation views, shifted by a few pixels: other bytes, so other content hashes; the same size and
    decoding cost as a photo) when fewer photos than `count` were staged."""
    import shutil

    from PIL import Image, ImageOps

    for made in range(count):
        photo = Path(photos[made % len(photos)])
        variant = made // len(photos)
        target = folder / photo.parent.name / (photo.name if variant == 0 else f"v{variant}-{photo.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if variant == 0:
            shutil.copy(photo, target)
            continue
        with Image.open(photo) as image:
            view = ImageOps.mirror(image) if variant % 2 else image.copy()
            view = view.rotate(90 * (variant // 2 % 4), expand=True)
            shift = variant // 8
            if shift:
                view = view.crop((shift, shift, view.width, view.height))
            view.convert("RGB").save(target, "JPEG", quality=90)


def compare(reference, other) -> dict:
    """Largest absolute and relative (to the reference's largest magnitude) difference, lowest cosine."""
    import numpy as np

    a, b = reference.reshape(len(reference), -1), other.reshape(len(other), -1)
    scale = max(float(np.abs(a).max()), 1e-12)
    largest = float(np.abs(a - b).max())
    cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {"max_abs": largest, "max_rel": largest / scale, "min_cosine": float(cosine.min()), "scale": scale}


def _number(value, digits: str = ".1f") -> str:
    return "" if value is None else format(value, digits)


def markdown(report: dict) -> str:
    """One table: a row per runtime, device and configuration."""
    lines = [f"GPU check {report['created']}: {report['images']} images for the base alone, "
             f"{report['e2e_images']} JPEGs end to end; medians of {report.get('rounds', 1)} round(s); "
             f"reference {report['reference']}."
             + (f" Not installed: {', '.join(report['not_installed'])}." if report["not_installed"] else ""), "",
             "| runtime | device | config | base img/s | e2e img/s | e2e/base | max abs | max rel | "
             "min cosine | peak GPU MiB | verdict |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for key, run in report["runs"].items():
        if "configs" not in run:
            lines.append(f"| {key} | | | | | | | | | | {run.get('failed') or run.get('skipped')} |")
            continue
        peak = run.get("peak_gpu_bytes")
        for name, result in run["configs"].items():
            base, e2e = result.get("base_images_per_second"), result.get("e2e_images_per_second")
            ratio = e2e / base if base and e2e else None
            verdict = ("ok" if result.get("ok") else "OVER TOLERANCE") if "ok" in result else "not compared"
            if result.get("e2e_failed"):
                verdict += f"; e2e failed: {result['e2e_failed'][:80]}"
            lines.append(f"| {key} | {run['device']} | {name} | {_number(base)} | {_number(e2e)} | "
                         f"{_number(ratio, '.2f')} | {_number(result.get('max_abs'), '.2g')} | "
                         f"{_number(result.get('max_rel'), '.1e')} | {_number(result.get('min_cosine'), '.6f')} | "
                         f"{_number(peak / 2**20 if peak else None, '.0f')} | {verdict} |")
    return "\n".join(lines) + "\n"
