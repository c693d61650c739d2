"""Classifier heads trained on cached features: fit, evaluate, compare, predict, export, report, fine-tune.

The Python API the `heads` CLI is a thin layer over (same parameter names). Names are imported when first
used (PEP 562), so a command loads only what it needs: `heads list` does not load the plotting, export or
fine-tuning code, and TensorFlow is imported only by what needs it (the dense head, fine-tuning, predict,
export).
"""
from __future__ import annotations

import importlib

_WHERE = {"LoadedHead": "heads.artifact", "load_head": "heads.artifact", "resolve_head": "heads.artifact",
          "HeadError": "heads.errors", "eval_head": "heads.evaluate", "list_store_heads": "heads.evaluate",
          "export_head": "heads.export", "finetune_head": "heads.finetune.run", "fit_head": "heads.fit",
          "DenseHead": "heads.kinds.dense", "KINDS": "heads.kinds.registry", "make_head": "heads.kinds.registry",
          "predict_images": "heads.predict", "report_head": "heads.report", "compare_heads": "heads.report"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'heads' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
