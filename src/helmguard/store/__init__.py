"""helmguard's durable store: releases, revisions, current statuses, history, events, logs.

SQLAlchemy 2 Core tables with Alembic migrations run on open; SQLite by default (WAL, one
writer task per process batching inserts, any number of processes), PostgreSQL by URL.
One sync per cluster and store (a lease row with a heartbeat). Secret contents never reach it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from helmguard.lazy import exports

if TYPE_CHECKING:
    from helmguard.redact import REDACTED, redact_secrets, values_digest
    from helmguard.store.core import Retention
    from helmguard.store.db import default_path, resolve
    from helmguard.store.errors import StoreError, SyncRunning
    from helmguard.store.leases import SYNC_HEARTBEAT_SECONDS, SYNC_LEASE_SECONDS
    from helmguard.store.records import (
        AppRecord,
        ClusterRecord,
        Culprit,
        EventRecord,
        FeedEvent,
        FeedStep,
        FeedTransition,
        InventoryItem,
        LogEntry,
        LogStep,
        ObservedStatus,
        PruneResult,
        ReleaseKey,
        ReleaseRecord,
        ReleaseSummary,
        RepositoryRecord,
        ResourceRecord,
        RevisionRecord,
        SyncHolder,
        TransitionRecord,
        app_ref,
    )
    from helmguard.store.store import Store, open_store

# Loaded on first use (PEP 562): `helmguard.store.errors` and the records stay light to
# import, SQLAlchemy and Alembic come with the first name that needs them.
_EXPORTS = {
    "AppRecord": "records",
    "ClusterRecord": "records",
    "Culprit": "records",
    "EventRecord": "records",
    "FeedEvent": "records",
    "FeedStep": "records",
    "FeedTransition": "records",
    "InventoryItem": "records",
    "LogEntry": "records",
    "LogStep": "records",
    "ObservedStatus": "records",
    "PruneResult": "records",
    "REDACTED": "helmguard.redact",
    "ReleaseKey": "records",
    "RepositoryRecord": "records",
    "ReleaseRecord": "records",
    "ReleaseSummary": "records",
    "ResourceRecord": "records",
    "Retention": "core",
    "RevisionRecord": "records",
    "SYNC_HEARTBEAT_SECONDS": "leases",
    "SYNC_LEASE_SECONDS": "leases",
    "Store": "store",
    "StoreError": "errors",
    "SyncHolder": "records",
    "SyncRunning": "errors",
    "TransitionRecord": "records",
    "app_ref": "records",
    "default_path": "db",
    "open_store": "store",
    "redact_secrets": "helmguard.redact",
    "resolve": "db",
    "values_digest": "helmguard.redact",
}


__getattr__ = exports(__name__, _EXPORTS)


__all__ = [
    "REDACTED",
    "SYNC_HEARTBEAT_SECONDS",
    "SYNC_LEASE_SECONDS",
    "AppRecord",
    "ClusterRecord",
    "Culprit",
    "EventRecord",
    "FeedEvent",
    "FeedStep",
    "FeedTransition",
    "InventoryItem",
    "LogEntry",
    "LogStep",
    "ObservedStatus",
    "PruneResult",
    "ReleaseKey",
    "ReleaseRecord",
    "ReleaseSummary",
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
