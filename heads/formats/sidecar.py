"""The files beside every exported model: labels.txt, preprocessing.json and a model card (skops).

A deployer reads these instead of the tool's head record: the class of each probability
column, what the model expects as input, what the caller must do before (decode and resize,
named exactly, and done by the predict.py and resize.py written beside), what the model does
inside (preprocessing, resizes of smaller branches, test-time views), and how far the written
model was checked.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from heads.formats.common import CARD_FILE, LABELS_FILE, META_FILE, ExportMeta, labels_text, package_versions
from heads.formats.predict_script import write_predict_script

VERSIONED = ("bottleneck-cache", "tensorflow", "keras", "numpy")  # + the format's own packages


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 8)


def _plain(value):
    """numpy scalars and arrays in meta.extra as plain JSON values."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


RESIZE_FILTER = {
    "filter": "bilinear (triangle kernel), antialiased: when shrinking, the kernel is widened by the scale factor",
    "pixel_centres": "half-pixel", "weights": "normalised per output pixel",
    "output": "float32, not rounded (the model takes the resized values as they are)",
    "same_as": "tf.image.resize(image, [{size}, {size}], method='bilinear', antialias=True), i.e. "
               "keras.layers.Resizing({size}, {size}, interpolation='bilinear', antialias=True{keras_mode})",
    "implementation": "resize.py (NumPy only; predict.py uses it)",
    "pillow": "Image.resize(({size}, {size}), Image.BILINEAR) uses the same kind of filter but gives uint8 and other "
              "edge weights: close, not the same",
}
MODES = {"squash": ("the whole image stretched to the square", ""),
         "crop": ("the centred square of the image (side: its shorter side) kept, then resized",
                  ", crop_to_aspect_ratio=True"),
         "pad": ("zeros added on both sides of the shorter side to make a square, then resized",
                 ", pad_to_aspect_ratio=True")}
DECODE = {"channels": "RGB", "orientation": "EXIF orientation applied", "transparency": "composited on white",
          "grey_16_bit": "scaled to 8 bits (not clipped)", "animation": "first frame",
          "range": [0, 255]}


def resize_description(meta: ExportMeta) -> dict:
    """The caller's resize, named exactly: mode, filter, antialias, channel order and range (resize.py does it)."""
    size = meta.input_size
    how, keras_mode = MODES.get(meta.resize, (meta.resize, ""))
    filter_ = {k: v.format(size=size, keras_mode=keras_mode) for k, v in RESIZE_FILTER.items()}
    return {"mode": meta.resize, "mode_means": how, "size": [size, size], "done_by": "caller",
            "antialias": True, "channel_order": "RGB", "range": [0, 255], **filter_, "decode": DECODE,
            "note": "decode and resize each image this way before calling the model (predict.py does)"}


def inside_description(meta: ExportMeta) -> dict:
    """What the model does to its input before the head: each branch's resize, the test-time views."""
    resize = meta.resize_check
    return {"preprocessing": {"mode": meta.preprocess, "done_by": "model",
                              "note": "the model applies it: give raw RGB values in 0..255, not preprocessed ones"},
            "branches": meta.branches, "test_time_views": meta.views,
            "test_time_note": (f"probabilities averaged over the image and its views ({', '.join(meta.views)}), as "
                               f"`heads predict --tta {len(meta.views)}`") if meta.views else None,
            "resized_inside": None if resize is None else {
                **resize, "max_difference": _number(resize["max_difference"]),
                "agreement": _number(resize["agreement"])}}


def description(meta: ExportMeta, spec, check: dict) -> dict:
    """The content of preprocessing.json (`spec`: the format's module: NAME, FILE, ENTRIES, PACKAGES, EMBEDDED)."""
    size = meta.input_size
    return {
        "format": spec.NAME,
        "model_file": spec.FILE,
        "input": {"name": "image", "shape": [None, size, size, 3], "dtype": "float32", "range": [0, 255],
                  "channels": "RGB", "layout": "NHWC",
                  "entries": {dtype: text.format(size=size) for dtype, text in spec.ENTRIES.items()}},
        "resize": resize_description(meta),
        "preprocessing": inside_description(meta)["preprocessing"],
        "inside_model": inside_description(meta),
        "output": {"name": "probabilities", "shape": [None, len(meta.class_names)], "dtype": "float32",
                   "classes_file": LABELS_FILE},
        "class_names": list(meta.class_names),
        "backbone": meta.backbone, "config_id": meta.config_id, "head_id": meta.head_id, "kind": meta.kind,
        "check": {**check, "max_difference": _number(check["max_difference"]),
                  "agreement": _number(check["agreement"]), "notes": list(meta.notes)},
        "embedded_metadata": spec.EMBEDDED or None,
        "extra": meta.extra,
        "versions": package_versions(VERSIONED + spec.PACKAGES),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _usage(spec, size: int) -> str:
    """The model card's "How to use": predict.py, and the format's loader for one's own code."""
    return (f"```bash\npython predict.py photo.jpg other.png        # class and probability per image\n"
            f"python predict.py photo.jpg --json           # every probability\n```\n\n"
            f"In your own code, with `images` a float32 array (n, {size}, {size}, 3), RGB 0..255, made by "
            f"`resize.resize_image(rgb, {size}, mode)` as `{META_FILE}` says:\n\n```python\n"
            f"import numpy as np\nfrom pathlib import Path\n\nHERE = Path(\"path/to/this/folder\")\n\n\n{spec.PREDICT_LOADER.strip()}\n\nprobabilities = load_model()(images)\n"
            f"classes = open(\"{LABELS_FILE}\").read().splitlines()\n```")


def _flat_metrics(metrics: dict) -> dict:
    """{name: value}, or {split: {name: value}} flattened to {"split name": value}; numbers (rounded to 4
    decimals: a model card is read, not computed with) and text only."""
    flat = {}
    for key, value in metrics.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for name, v in items:
            if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                flat[f"{key} {name}" if name is not None else str(key)] = round(v, 4) if isinstance(v, float) else v
    return flat


def _rounded(value, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    return f"{value:.0%}" if percent else f"{value:.1e}"


def _inside_text(meta: ExportMeta) -> str:
    """The model card's account of what the model does to its input before the head."""
    lines = [f"The model applies the `{meta.preprocess}` preprocessing itself."]
    inside = [b for b in meta.branches if b.get("resized_inside")]
    for branch in inside:
        lines.append(f"Branch `{branch['config_id']}` ({branch['backbone']} at {branch['size']} px) is resized from "
                     f"the {meta.input_size} x {meta.input_size} input inside the model, with the same filter "
                     "written as two constant matrices.")
    check = meta.resize_check
    if check is not None:
        lines.append(f"Extraction resized the original image to that size directly, and two resizes in a row are not "
                     f"one: on {check['checked']} check images the probabilities differ from `heads predict` by up "
                     f"to {_rounded(check['max_difference'])} (top class agreement "
                     f"{_rounded(check['agreement'], True)}).")
    if meta.views:
        lines.append(f"Test-time views inside the model: the probabilities are the mean over the image and "
                     f"{', '.join(meta.views)} (as `heads predict --tta {len(meta.views)}`).")
    return " ".join(lines)


def write_card(folder: Path, meta: ExportMeta, record: dict, spec) -> None:
    """README.md: skops' model card, sections for what the model is, takes, was checked on, is for."""
    from skops.card import Card

    size, fmt, check = meta.input_size, record["format"], record["check"]
    resize = record["resize"]
    card = Card(model=None, template=None)
    card.add(**{
        "Model description": (
            f"Image classifier over {len(meta.class_names)} classes: a `{meta.kind}` head (id `{meta.head_id}`) "
            f"on the frozen `{meta.backbone}` base (feature configuration `{meta.config_id}`), exported as "
            f"`{fmt}` (`{record['model_file']}`) by bottleneck-cache. One model from image to probabilities."),
        "Model description/Input and output": (
            f"Input `image`: RGB, {size} x {size} pixels, values 0..255 (float32, not rounded). Decode each image "
            f"to RGB (EXIF orientation applied, transparency on white), then resize it to {size} x {size} with the "
            f"`{meta.resize}` mode ({resize['mode_means']}): {resize['filter']}; half-pixel centres; exactly "
            f"`{resize['same_as']}`. `resize.py` does it in NumPy. Output `probabilities`: one column per class, "
            f"in the order of `{LABELS_FILE}`.\n\n"
            + "\n".join(f"- {dtype}: {text}" for dtype, text in record["input"]["entries"].items())
            + (f"\n\nEmbedded: {record['embedded_metadata']}." if record["embedded_metadata"] else "")),
        "Model description/Inside the model": _inside_text(meta),
        "Model description/Classes": "| column | class |\n| ---: | :--- |\n" + "\n".join(
            f"| {i} | {name.replace('|', chr(92) + '|')} |" for i, name in enumerate(meta.class_names)),
        "How to use": _usage(spec, size),
        "Intended use": (
            "Classifying images like those the head was trained on, into the classes of `labels.txt`. "
            "The probabilities are the head's; use them to rank or to threshold after checking them on "
            "data of the deployment."),
        "Limitations": (
            "The model knows only its classes: an image of anything else still gets one of them. It was "
            "trained on a small dataset through a frozen ImageNet base, and inherits that base's biases. "
            f"It takes exactly {size} x {size} images; another resize filter shifts the probabilities (Pillow's "
            f"bilinear resize is close, not the same). {'Float32 only: cast uint8 images first. ' if fmt == 'onnx' else ''}"
            "Check its accuracy on your own data before relying on it."),
        "Export check": (
            f"Loaded back with {check['runtime']} and compared with the expected probabilities on "
            f"{check['checked']} images: largest difference {_rounded(check['max_difference'])}, top class "
            f"agreement {_rounded(check['agreement'], True)} (allowed difference {check['tolerance']})."
            + "".join(f" {note}" for note in meta.notes)),
    })
    metrics = _flat_metrics(meta.extra.get("metrics") or {})
    if metrics:
        split = meta.extra.get("metrics_split")
        card.add_metrics(description=f"The head's metrics{f' on the {split} split' if split else ''} "
                                     "(never on rows it was fitted on), rounded.", **metrics)
    card.add_table(**{"Provenance": {
        "field": ["backbone", "configuration", "head", "kind", *record["versions"]],
        "value": [meta.backbone, meta.config_id, meta.head_id, meta.kind, *record["versions"].values()]}})
    card.save(folder / CARD_FILE)


def write_sidecars(folder: Path, meta: ExportMeta, record: dict, spec) -> None:
    """labels.txt, preprocessing.json (`record`), the model card, and predict.py with resize.py."""
    (folder / LABELS_FILE).write_text(labels_text(meta), encoding="utf-8")
    text = json.dumps(record, indent=2, allow_nan=False, default=_plain)
    (folder / META_FILE).write_text(text + "\n", encoding="utf-8")
    write_card(folder, meta, record, spec)
    write_predict_script(folder, spec, meta.input_size, meta.resize)
