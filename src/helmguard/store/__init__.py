"""helmguard's durable store: releases, revisions, current statuses, history, events, logs.

SQLAlchemy 2 models with Alembic migrations run on open; SQLite by default (WAL, one
writer task batching inserts), PostgreSQL by URL. Secret contents never reach it.
"""

from __future__ import annotations

from helmguard.store.db import default_path, resolve
from helmguard.store.errors import StoreError
from helmguard.store.records import (
    EventRecord,
    InventoryItem,
    LogEntry,
    LogStep,
    ObservedStatus,
    PruneResult,
    ReleaseKey,
    ReleaseRecord,
    ResourceRecord,
    RevisionRecord,
    TransitionRecord,
)
from helmguard.store.redact import REDACTED, redact_secrets, values_digest
from helmguard.store.store import Retention, Store, open_store

__all__ = [
    "REDACTED",
    "EventRecord",
    "InventoryItem",
    "LogEntry",
    "LogStep",
    "ObservedStatus",
    "PruneResult",
    "ReleaseKey",
    "ReleaseRecord",
    "ResourceRecord",
    "Retention",
    "RevisionRecord",
    "Store",
    "StoreError",
    "TransitionRecord",
    "default_path",
    "open_store",
    "redact_secrets",
    "resolve",
    "values_digest",
]
