"""Classifier heads trained on cached features: fit, evaluate, compare, predict, export.

The Python API the `heads` CLI is a thin layer over (same parameter names).
TensorFlow is imported only by what needs it (the dense head, predict, export).
"""
from heads.artifact import load_head, resolve_head
from heads.kinds.dense import DenseHead
from heads.errors import HeadError
from heads.evaluate import eval_head, list_store_heads
from heads.export import export_head
from heads.predict import predict_images
from heads.kinds.registry import KINDS, make_head
from heads.train import fit_head

__all__ = ["KINDS", "DenseHead", "HeadError", "eval_head", "export_head", "fit_head", "list_store_heads",
           "load_head", "make_head", "predict_images", "resolve_head"]
