"""An out-of-memory in the base, said in one line, with nothing half-recorded left listed.

TensorFlow raises ResourceExhaustedError (an OpError, neither ValueError nor RuntimeError) and NumPy or
the decoder MemoryError; either would reach the user as a traceback. A configuration this run recorded
and that never committed a shard is removed again, so `extract ls` does not list an empty one.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from store.layout import StoreLayout
from store.lock import writer_lock
from store.shards import committed_shards

OOM_NAMES = ("ResourceExhaustedError", "OutOfMemoryError")  # TensorFlow; PyTorch and JAX runtimes


class OutOfMemory(RuntimeError):
    """The base or the batch did not fit in memory (exit 1: a failure while working, not bad input)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an error is an allocation failure, by type name: TensorFlow need not be imported here."""
    return isinstance(error, MemoryError) or any(type(e).__name__ in OOM_NAMES for e in _chain(error))


def _chain(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


@contextlib.contextmanager
def refused_when_out_of_memory(store: Path, config_id: str, size: int, batch_size: int):
    """Turn an out-of-memory inside the block into OutOfMemory (one line); when the configuration was
    first recorded inside the block and holds no committed shard, its record is removed."""
    layout = StoreLayout(Path(store))
    fresh = not layout.config_file(config_id).is_file()
    try:
        yield
    except Exception as error:  # noqa: BLE001 - filtered by is_out_of_memory, the rest re-raised as they are
        if not is_out_of_memory(error):
            raise
        if fresh and layout.config_file(config_id).is_file():
            with writer_lock(layout.lock_file(config_id)):
                if not committed_shards(layout.shards_dir(config_id)):
                    layout.config_file(config_id).unlink(missing_ok=True)
        first = (str(error).strip().splitlines() or [""])[0][:160]
        raise OutOfMemory(f"Out of memory running the base at --size {size} with --batch-size {batch_size} "
                          f"({type(error).__name__}: {first}); try a smaller --batch-size or --size.") from None
