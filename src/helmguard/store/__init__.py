"""helmguard's durable store: releases, revisions, current statuses, history, events, logs.

SQLAlchemy 2 models with Alembic migrations run on open; SQLite by default (WAL, one
writer task per process batching inserts, any number of processes), PostgreSQL by URL.
One sync per cluster and store (a lease row with a heartbeat). Secret contents never reach it.
"""

from __future__ import annotations

from helmguard.redact import REDACTED, redact_secrets, values_digest
from helmguard.store.db import default_path, resolve
from helmguard.store.errors import StoreError, SyncRunning
from helmguard.store.records import (
    AppRecord,
    EventRecord,
    InventoryItem,
    LogEntry,
    LogStep,
    ObservedStatus,
    PruneResult,
    ReleaseKey,
    ReleaseRecord,
    RepositoryRecord,
    ResourceRecord,
    RevisionRecord,
    SyncHolder,
    TransitionRecord,
    app_ref,
)
from helmguard.store.store import (
    SYNC_HEARTBEAT_SECONDS,
    SYNC_LEASE_SECONDS,
    Retention,
    Store,
    open_store,
)

__all__ = [
    "REDACTED",
    "SYNC_HEARTBEAT_SECONDS",
    "SYNC_LEASE_SECONDS",
    "AppRecord",
    "EventRecord",
    "InventoryItem",
    "LogEntry",
    "LogStep",
    "ObservedStatus",
    "PruneResult",
    "ReleaseKey",
    "ReleaseRecord",
    "RepositoryRecord",
    "ResourceRecord",
    "Retention",
    "RevisionRecord",
    "Store",
    "StoreError",
    "SyncHolder",
    "SyncRunning",
    "TransitionRecord",
    "app_ref",
    "default_path",
    "open_store",
    "redact_secrets",
    "resolve",
    "values_digest",
]
