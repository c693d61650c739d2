"""What the `extract` and `heads` command lines share: -q/-v/--version, TensorFlow's own log lines,
exit codes and JSON output.

Exit codes: 2 for a usage error (Click's own: an unknown option, a bad choice), 3 for input the
tool refuses (any ValueError of the API), 1 for a failure while working (an OSError such as a full
disk, a RuntimeError of a worker). Anything else is a bug and is raised with its traceback.

TensorFlow writes to the process's stderr from C++ when it is imported and when it first looks
for GPUs: on a machine without one, lines such as "Could not find cuda drivers", "failed call to
cuInit" (an error line) and absl's "All log messages before absl::InitializeLog()". Unless
--verbose, those two moments run with file descriptor 2 pointed at /dev/null (an import hook on
`tensorflow`, so whichever module imports it first), TF_CPP_MIN_LOG_LEVEL is 3, and a GPU, when
there is one, is said in one line instead. Commands that need no TensorFlow never import it.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Iterator

import typer
from typer.core import TyperCommand, TyperGroup

from extract import devices

USAGE, REFUSED, FAILED = 2, 3, 1
QUIET, NORMAL, VERBOSE = 0, 1, 2
_state = {"level": NORMAL}


def exit_code(error: BaseException) -> int:
    """3 for input the API refuses (a ValueError), 1 for a failure while working (OSError, RuntimeError)."""
    return REFUSED if isinstance(error, ValueError) else FAILED


def level() -> int:
    return _state["level"]


def quiet() -> bool:
    return _state["level"] == QUIET


def print_json(data: Any) -> None:
    """Machine-readable output on stdout alone (plain print: no markup, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))


def package_version() -> str:
    try:
        return version("bottleneck-cache")
    except PackageNotFoundError:
        return "unknown (not installed)"


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """File descriptor 2 (where C++ logs go, below Python) pointed at /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports `tensorflow` (once, whoever asks first) with stderr silenced, probes its GPUs the same
    way, and reports a GPU through `say_device`."""

    def __init__(self, say_device: Callable[[str], None] | None):
        self.say_device = say_device

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; nested imports find TensorFlow the usual way
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module) -> None:
            with stderr_silenced():
                load(module)
                gpus = module.config.list_physical_devices("GPU")  # where cuInit is tried, and fails on a CPU
            if gpus and self.say_device is not None:
                self.say_device(f"TensorFlow computes on {devices.device_label()}")

        spec.loader.exec_module = exec_module
        return spec


def native_logs_hidden():
    """A block whose C++ log lines (TFLite's "Created TensorFlow Lite XNNPACK delegate", say) are hidden
    unless --verbose."""
    return contextlib.nullcontext() if level() == VERBOSE else stderr_silenced()


def tensorflow_logging(verbose: bool, say_device: Callable[[str], None] | None = None) -> None:
    """Set before TensorFlow is imported (a no-op for its log lines if it already was)."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport(say_device))


def _flags_as_flags(params: list) -> list:
    """No `<bool>` after a boolean flag in help (typer 0.29 writes one, as if the flag took a value)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class FlagsCommand(TyperCommand):
    """A command whose help shows boolean flags as flags (`app.command(cls=FlagsCommand)`)."""

    def get_params(self, ctx):
        return _flags_as_flags(super().get_params(ctx))


class FlagsGroup(TyperGroup):
    """An app whose own help shows boolean flags as flags (`typer.Typer(cls=FlagsGroup)`)."""

    def get_params(self, ctx):
        return _flags_as_flags(super().get_params(ctx))


def _print_version(value: bool) -> None:
    if value:
        print(f"bottleneck-cache {package_version()}")
        raise typer.Exit()


def common_options(say: Callable[[str], None]):
    """The app callback of both CLIs: --version, -q/--quiet, -v/--verbose (before any command)."""

    def options(
        version_flag: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit."),
        quiet_flag: bool = typer.Option(False, "--quiet", "-q",
                                        help="Only results and errors: no progress bars, stages or notes."),
        verbose_flag: bool = typer.Option(False, "--verbose", "-v",
                                          help="Also TensorFlow's own log lines (CUDA probing and the like)."),
    ) -> None:
        if quiet_flag and verbose_flag:
            raise typer.BadParameter("choose one of --quiet and --verbose. Received: both")
        _state["level"] = QUIET if quiet_flag else VERBOSE if verbose_flag else NORMAL
        tensorflow_logging(verbose_flag, None if quiet_flag else say)

    return options
