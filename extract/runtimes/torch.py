"""Keras 3 on PyTorch runs the base (`--runtime torch`): on the GPU when PyTorch sees one (CUDA).

In a process whose Keras runs on TensorFlow it runs in a child process (extract.runtimes.keras_backend
says how, and how its features are checked). float32 compute on a GPU is float32 (TF32 off for
matmuls and cuDNN convolutions): extract.devices.exact_float32.
"""
from __future__ import annotations

from extract.runtimes.keras_backend import KerasBackendRuntime


class TorchRuntime(KerasBackendRuntime):
    name = "torch"
    packages = ("torch",)
    extra = "pip install torch (PyTorch's own wheel for your CUDA or CPU)"
