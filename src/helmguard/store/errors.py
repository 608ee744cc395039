"""The one error class of the store: a problem a user can fix, said in one line."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened, migrated, locked or written; `str()` is the message."""


class SyncRunning(StoreError):
    """Another live process already syncs this cluster into this store."""
