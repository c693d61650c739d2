"""Classifier heads trained on cached features: fit, evaluate, compare, predict, export, fine-tune.

The Python API the `heads` CLI is a thin layer over (same parameter names).
TensorFlow is imported only by what needs it (the dense head, fine-tuning, predict, export).
"""
from heads.artifact import LoadedHead, load_head, resolve_head
from heads.errors import HeadError
from heads.evaluate import eval_head, list_store_heads
from heads.export import export_head
from heads.finetune.run import finetune_head
from heads.fit import fit_head
from heads.kinds.dense import DenseHead
from heads.kinds.registry import KINDS, make_head
from heads.predict import predict_images

__all__ = ["KINDS", "DenseHead", "HeadError", "LoadedHead", "eval_head", "export_head", "finetune_head", "fit_head",
           "list_store_heads", "load_head", "make_head", "predict_images", "resolve_head"]
