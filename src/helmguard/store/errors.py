"""The one error class of the store: a problem a user can fix, said in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helmguard.store.records import SyncHolder


class StoreError(Exception):
    """The database cannot be opened, migrated, locked or written; `str()` is the message."""


class SyncRunning(StoreError):
    """Another live process already syncs this cluster into this store (`holder`)."""

    def __init__(self, message: str, holder: SyncHolder | None = None) -> None:
        super().__init__(message)
        self.holder = holder
