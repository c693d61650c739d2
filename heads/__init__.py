"""Classifier heads trained on cached features: fit, evaluate, compare, predict, export, report, fine-tune.

Python API in short (scikit-learn / pandas feel)::

    from heads import load_head, predict_frame, fit_head, eval_head
    head = load_head("store/heads/<id>")      # or load_head(resolve_head("<id>", store="store"))
    head.classes_                             # class names, in predict_proba's column order
    head.predict_proba(X)                     # (n, n_classes) ndarray
    head.predict(X)                           # (n,) class names
    # X: image paths or a folder; decoded images (uint8 (n, h, w, 3) or PIL images); or the head's
    # features ((n, ...) ndarray; a list or {config id: array} for a joined head). Images go through the
    # head's own backbone(s) exactly as `heads predict` does; progress=False turns the stderr bar off.
    predict_frame(head, "photos/")            # DataFrame: path, predicted, one column per class, error

The Python API the `heads` CLI is a thin layer over (same parameter names). Names are imported when first
used (PEP 562), so a command loads only what it needs: `heads list` does not load the plotting, export or
fine-tuning code, and TensorFlow is imported only by what needs it (the dense head, fine-tuning, predict,
export).
"""
from __future__ import annotations

import importlib

_WHERE = {"LoadedHead": "heads.artifact", "load_head": "heads.artifact", "resolve_head": "heads.artifact",
          "HeadError": "heads.errors", "EvalResult": "heads.eval_result", "eval_head": "heads.evaluate",
          "list_store_heads": "heads.evaluate",
          "export_head": "heads.export", "finetune_head": "heads.finetune.run", "fit_head": "heads.fit",
          "DenseHead": "heads.kinds.dense", "KINDS": "heads.kinds.registry", "make_head": "heads.kinds.registry",
          "predict_images": "heads.predict", "predict_frame": "heads.predict_frame",
          "predictions_frame": "heads.predict_frame", "report_head": "heads.report", "compare_heads": "heads.report"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'heads' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
