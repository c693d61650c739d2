"""The runtimes' names and the registry that holds them: a leaf that imports no runtime.

Options (extract.options) and the CLIs check a runtime's name here without importing any runtime
module, so checking a name never reaches the extractor that the runtimes themselves take.
`extract.runtimes` fills the registry with its built-in factories (a package's `__init__` runs
before any of its modules is imported, so the registry is full whenever this is read);
`extract.runtimes.register_runtime` adds more.
"""
from __future__ import annotations

from typing import Callable

from extract.errors import OptionError

AUTO = "auto"  # not a runtime: extract.runtimes.choice picks one per run
DEFAULT_RUNTIME = "tensorflow"
# What computes an int8 configuration (`quantize="int8"`), whatever runtime was asked for: not a
# choice in RUNTIMES, since its numbers are not TensorFlow's (its own configuration id)
INT8_RUNTIME = "openvino-int8"
# name -> factory (a factory, so that listing runtimes imports none of their libraries)
RUNTIMES: dict[str, Callable[[], object]] = {}


def runtime_choices() -> tuple[str, ...]:
    """Every name --runtime takes: auto, then the registered runtimes."""
    return (AUTO, *RUNTIMES)


def check_runtime_name(name: str) -> str:
    """`name` when --runtime takes it; one line naming the allowed ones otherwise."""
    if name != AUTO and name not in RUNTIMES:
        raise OptionError(f"Unknown runtime {name!r}. Allowed: {', '.join(runtime_choices())}. "
                          f"Received: --runtime {name}")
    return name
