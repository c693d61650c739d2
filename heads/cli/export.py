"""`heads export`: a head with its backbones as one deployable model (thin over heads.export)."""
from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from heads.cli.common import HANDLED, HeadOption, fail, human_bytes, output, print_notes
from heads.formats import export_formats

ExportFormat = Enum("ExportFormat", {name: name for name in export_formats()}, type=str)


def _figure(value: float):
    return None if value is None or math.isnan(value) else value


def export(
    head: HeadOption,
    out: Annotated[Path, typer.Option(help="The export folder to write (missing or empty): the model, labels.txt, "
                                           "preprocessing.json, README.md (model card), predict.py.")],
    format: Annotated[ExportFormat, typer.Option(
        help="keras (.keras), savedmodel (TF Serving, TF.js), tflite (LiteRT, with label metadata), "
             "onnx (onnxruntime; needs the export extra).")] = ExportFormat.keras,
    store: Annotated[Optional[Path], typer.Option(help="Feature store for the agreement check.", show_default="the head's own")] = None,
    check: Annotated[int, typer.Option(help="Store images to compare the exported model with `heads predict` on.")] = 8,
    tta: Annotated[int, typer.Option(help="Average over the plain image and K fixed test-time views (a flip, then "
                                          "zooms) inside the model, as `heads predict --tta K`.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """One model from raw RGB images (0..255, the head's input size) to probabilities, checked in its own runtime."""
    from heads.export import export_head

    try:
        result = export_head(head, out, store=store, check=check, format=format.value, tta=tta)
    except HANDLED as error:
        fail(error)
        return
    resize = result.resize_check
    if as_json:
        print(json.dumps({"path": str(result.path), "format": result.fmt, "files": result.files,
                          "bytes": result.bytes, "checked": result.checked,
                          "max_difference": None if result.checked == 0 else result.max_difference,
                          "agreement": None if result.checked == 0 else result.agreement,
                          "runtime": result.runtime, "seconds": round(result.seconds, 3), "notes": result.notes,
                          "inner_resize": None if resize is None else
                          {**resize, "max_difference": _figure(resize["max_difference"]),
                           "agreement": _figure(resize["agreement"])}}, indent=2))
        return
    against = "`heads predict`" if resize is None or resize["compared_with"] == "heads predict" else \
        "the tool's Keras model"
    checked = (f"agrees with {against} on {result.checked} store images (top class {result.agreement:.0%}, "
               f"largest probability difference {result.max_difference:.1e})" if result.checked
               else "not compared: no store images on disk to check it against")
    top = sorted({name.split("/")[0] for name in result.files})
    output(f"wrote {out} ({result.fmt}, {human_bytes(result.bytes)}): {', '.join(top)}")
    output(f"loaded back with {result.runtime}: {checked}")
    if resize is not None and resize["checked"]:
        output(f"resized inside the model ({', '.join(map(str, resize['sizes']))} px from its input): differs "
               f"from `heads predict` by up to {resize['max_difference']:.1e} (top class "
               f"{resize['agreement']:.0%}), said in preprocessing.json and the model card")
    print_notes(result.notes)
