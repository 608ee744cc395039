"""Rows of the store's tables as records: one conversion for the Store and its read-only readers.

Any row-like object works (an ORM object, a `Row` of selected columns) as long as it has
the columns a function reads; an object key is always `api_group, kind, namespace, name`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helmguard.manifest import ObjectRef
from helmguard.store.records import (
    AppRecord,
    EventRecord,
    InventoryItem,
    LogEntry,
    ReleaseKey,
    ReleaseRecord,
    ResourceRecord,
    RevisionRecord,
    TransitionRecord,
)


def ref_of(row: Any) -> ObjectRef:
    """The object a row is about."""
    return ObjectRef(row.api_group, row.kind, row.namespace, row.name)


def ref_to_json(ref: ObjectRef | None) -> dict[str, str] | None:
    """A reference as the JSON columns (root_cause) store it."""
    if ref is None:
        return None
    return {"group": ref.group, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def ref_from_json(value: Any) -> ObjectRef | None:
    """The reference a JSON column holds; None when it holds none (or not a whole one)."""
    if not isinstance(value, dict):
        return None
    try:
        return ObjectRef(value["group"], value["kind"], value["namespace"], value["name"])
    except KeyError:
        return None


def release_record(row: Any) -> ReleaseRecord:
    """A `releases` row (cluster, namespace, name, chart, ... updated_at, app_*)."""
    app = None
    if row.app_state is not None:
        app = AppRecord(
            state=row.app_state,
            reason=row.app_reason or "",
            message=row.app_message or "",
            since=row.app_since,
            observed_at=row.app_observed_at,
            root_cause=ref_from_json(row.app_root_cause),
        )
    return ReleaseRecord(
        key=ReleaseKey(row.namespace, row.name, row.cluster),
        chart=row.chart,
        chart_version=row.chart_version,
        current_revision=row.current_revision,
        status=row.status,
        updated_at=row.updated_at,
        app=app,
    )


def resource_record(row: Any, release: ReleaseKey) -> ResourceRecord:
    """A `resources` row of `release`."""
    return ResourceRecord(
        release=release,
        ref=ref_of(row),
        state=row.state,
        reason=row.reason,
        message=row.message,
        since=row.since,
        observed_at=row.observed_at,
        resource_version=row.resource_version,
        generation=row.generation,
        root_cause=ref_from_json(row.root_cause),
        owner=ref_from_json(row.owner),
        restarts=row.restarts,
    )


def transition_record(row: Any, release: ReleaseKey) -> TransitionRecord:
    """A `status_transitions` row of `release`."""
    return TransitionRecord(
        release=release,
        ref=ref_of(row),
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        message=row.message,
        at=row.at,
        root_cause=ref_from_json(row.root_cause),
    )


def revision_record(row: Any, release: ReleaseKey) -> RevisionRecord:
    """A `revisions` row of `release`."""
    return RevisionRecord(
        release=release,
        number=row.number,
        chart=row.chart,
        chart_version=row.chart_version,
        values_digest=row.values_digest,
        started_at=row.started_at,
        plan=row.plan,
        outcome=row.outcome,
        finished_at=row.finished_at,
        inventory=inventory_items(row.inventory),
    )


def event_record(row: Any) -> EventRecord:
    """An `events` row."""
    return EventRecord(
        uid=row.uid,
        ref=ref_of(row),
        type=row.type,
        reason=row.reason,
        message=row.message,
        count=row._mapping["count"],  # Row.count is tuple.count
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        source=row.source,
    )


def log_entry(row: Any, release: ReleaseKey) -> LogEntry:
    """An `operation_log` row of `release`."""
    return LogEntry(
        release=release,
        revision=row.revision,
        seq=row.seq,
        at=row.at,
        level=row.level,
        step=row.step,
        message=row.message,
        details=row.details,
    )


def inventory_json(items: Sequence[InventoryItem] | None) -> list[dict[str, str]] | None:
    """An inventory as the revisions' JSON column stores it (sorted, duplicates once)."""
    if items is None:
        return None
    return [
        {
            "group": i.ref.group,
            "kind": i.ref.kind,
            "namespace": i.ref.namespace,
            "name": i.ref.name,
            "uid": i.uid,
        }
        for i in sorted(set(items))
    ]


def inventory_items(data: Any) -> tuple[InventoryItem, ...] | None:
    """An inventory from the revisions' JSON column."""
    if data is None:
        return None
    return tuple(
        InventoryItem(ObjectRef(d["group"], d["kind"], d["namespace"], d["name"]), d.get("uid", ""))
        for d in data
    )
