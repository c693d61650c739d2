"""The store's error: one line naming what was received and what is allowed."""
from __future__ import annotations


class StoreError(ValueError):
    """A store, configuration, dataset or record that cannot be read or written as asked."""
