"""The files beside every exported model: labels.txt, preprocessing.json and a model card (skops).

A deployer reads these instead of the tool's head record: the class of each probability
column, what the model expects as input, what the caller must do before (resize), what
the model does inside (preprocessing), and how far the written model was checked.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from heads.formats.common import CARD_FILE, LABELS_FILE, META_FILE, ExportMeta, labels_text, package_versions

VERSIONED = ("bottleneck-cache", "tensorflow", "keras", "numpy")  # + the format's own packages


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 8)


def _plain(value):
    """numpy scalars and arrays in meta.extra as plain JSON values."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def description(meta: ExportMeta, spec, check: dict) -> dict:
    """The content of preprocessing.json (`spec`: the format's module: NAME, FILE, ENTRIES, PACKAGES, EMBEDDED)."""
    size = meta.input_size
    return {
        "format": spec.NAME,
        "model_file": spec.FILE,
        "input": {"name": "image", "shape": [None, size, size, 3], "dtype": "float32", "range": [0, 255],
                  "channels": "RGB", "layout": "NHWC",
                  "entries": {dtype: text.format(size=size) for dtype, text in spec.ENTRIES.items()}},
        "resize": {"mode": meta.resize, "size": [size, size], "done_by": "caller",
                   "note": "bring each image to the input size with this mode before calling the model"},
        "preprocessing": {"mode": meta.preprocess, "done_by": "model",
                          "note": "the model applies it: give raw RGB values in 0..255, not preprocessed ones"},
        "output": {"name": "probabilities", "shape": [None, len(meta.class_names)], "dtype": "float32",
                   "classes_file": LABELS_FILE},
        "class_names": list(meta.class_names),
        "backbone": meta.backbone, "config_id": meta.config_id, "head_id": meta.head_id, "kind": meta.kind,
        "check": {**check, "max_difference": _number(check["max_difference"]),
                  "agreement": _number(check["agreement"])},
        "embedded_metadata": spec.EMBEDDED or None,
        "extra": meta.extra,
        "versions": package_versions(VERSIONED + spec.PACKAGES),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _usage(fmt: str, model_file: str, size: int) -> str:
    load = {
        "keras": f'model = keras.models.load_model("{model_file}")\n'
                 "probabilities = model.predict(images)  # or model(images, training=False)",
        "savedmodel": f'serve = tf.saved_model.load("{model_file}").signatures["serving_default"]\n'
                      'probabilities = serve(image=tf.constant(images))["probabilities"]',
        "tflite": f'runner = Interpreter(model_path="{model_file}").get_signature_runner("serving_default")\n'
                  'probabilities = runner(image=images)["probabilities"]  # ai_edge_litert.interpreter',
        "onnx": f'session = onnxruntime.InferenceSession("{model_file}")\n'
                'probabilities = session.run(["probabilities"], {"image": images})[0]',
    }[fmt]
    return (f"```python\n# images: float32 array (n, {size}, {size}, 3), RGB values 0..255, resized as "
            f"{META_FILE} says\n{load}\nclasses = open(\"{LABELS_FILE}\").read().splitlines()\n```")


def _flat_metrics(metrics: dict) -> dict:
    """{name: value}, or {split: {name: value}} flattened to {"split name": value}; numbers and text only."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{key} {name}": v for name, v in value.items()
                         if isinstance(v, (int, float, str)) and not isinstance(v, bool)})
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            flat[str(key)] = value
    return flat


def write_card(folder: Path, meta: ExportMeta, record: dict) -> None:
    """README.md: skops' model card, sections for what the model is, takes, was checked on, is for."""
    from skops.card import Card

    size, fmt, check = meta.input_size, record["format"], record["check"]
    card = Card(model=None, template=None)
    card.add(**{
        "Model description": (
            f"Image classifier over {len(meta.class_names)} classes: a `{meta.kind}` head (id `{meta.head_id}`) "
            f"on the frozen `{meta.backbone}` base (feature configuration `{meta.config_id}`), exported as "
            f"`{fmt}` (`{record['model_file']}`) by bottleneck-cache. One model from image to probabilities."),
        "Model description/Input and output": (
            f"Input `image`: RGB, {size} x {size} pixels, values 0..255, float32. The caller resizes each image "
            f"to {size} x {size} with the `{meta.resize}` mode; the model applies the `{meta.preprocess}` "
            f"preprocessing itself. Output `probabilities`: one column per class, in the order of `{LABELS_FILE}`."
            "\n\n" + "\n".join(f"- {dtype}: {text}" for dtype, text in record["input"]["entries"].items())
            + (f"\n\nEmbedded: {record['embedded_metadata']}." if record["embedded_metadata"] else "")),
        "Model description/Classes": "| column | class |\n| ---: | :--- |\n" + "\n".join(
            f"| {i} | {name.replace('|', chr(92) + '|')} |" for i, name in enumerate(meta.class_names)),
        "How to use": _usage(fmt, record["model_file"], size),
        "Intended use": (
            "Classifying images like those the head was trained on, into the classes of `labels.txt`. "
            "The probabilities are the head's; use them to rank or to threshold after checking them on "
            "data of the deployment."),
        "Limitations": (
            "The model knows only its classes: an image of anything else still gets one of them. It was "
            "trained on a small dataset through a frozen ImageNet base, and inherits that base's biases. "
            f"It takes exactly {size} x {size} images; a resize other than `{meta.resize}` shifts the "
            f"probabilities. {'Float32 only: cast uint8 images first. ' if fmt == 'onnx' else ''}"
            "Check its accuracy on your own data before relying on it."),
        "Export check": (
            f"Loaded back with {check['runtime']} and compared with the expected probabilities on "
            f"{check['checked']} images: largest difference {record['check']['max_difference']}, top-1 "
            f"agreement {record['check']['agreement']} (allowed difference {check['tolerance']})."),
    })
    metrics = _flat_metrics(meta.extra.get("metrics") or {})
    if metrics:
        split = meta.extra.get("metrics_split")
        card.add_metrics(description=f"The head's metrics{f' on the {split} split' if split else ''} "
                                     "(never on rows it was fitted on).", **metrics)
    card.add_table(**{"Provenance": {
        "field": ["backbone", "configuration", "head", "kind", *record["versions"]],
        "value": [meta.backbone, meta.config_id, meta.head_id, meta.kind, *record["versions"].values()]}})
    card.save(folder / CARD_FILE)


def write_sidecars(folder: Path, meta: ExportMeta, record: dict) -> None:
    (folder / LABELS_FILE).write_text(labels_text(meta), encoding="utf-8")
    text = json.dumps(record, indent=2, allow_nan=False, default=_plain)
    (folder / META_FILE).write_text(text + "\n", encoding="utf-8")
    write_card(folder, meta, record)
