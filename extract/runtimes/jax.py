"""Keras 3 on JAX runs the base (`--runtime jax`): CPU or GPU, whichever device JAX has.

In a process whose Keras runs on TensorFlow it runs in a child process (extract.runtimes.keras_backend
says how, and how its features are checked). float32 compute on a GPU is float32 (matmul precision
"highest", no TF32): extract.devices.exact_float32.
"""
from __future__ import annotations

from extract.runtimes.keras_backend import KerasBackendRuntime


class JaxRuntime(KerasBackendRuntime):
    name = "jax"
    packages = ("jax", "jaxlib")
    extra = "pip install 'bottleneck-cache[jax]'; with CUDA: pip install 'jax[cuda12]'"
