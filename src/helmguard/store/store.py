"""The Store: typed async writes through the single writer, concurrent reads, retention."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncEngine

from helmguard.manifest import ObjectRef
from helmguard.redact import canonical_json, redact_secrets
from helmguard.store import migrate
from helmguard.store.db import (
    Target,
    WriteBackend,
    create_engine,
    describe,
    prepare_sqlite_file,
    resolve,
    retry_busy,
)
from helmguard.store.errors import StoreError, SyncRunning
from helmguard.store.models import (
    ChartRepository,
    Event,
    OperationLog,
    Release,
    Resource,
    Revision,
    StatusTransition,
    SyncLease,
)
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
from helmguard.store.rows import (
    log_entry,
    ref_of,
    ref_to_json,
    release_record,
    resource_record,
    transition_record,
)
from helmguard.store.writer import BatchWriter

KeyedModel = type[Resource] | type[StatusTransition] | type[Event]


@dataclass(frozen=True)
class Retention:
    """How much history `prune_history` keeps: by age, and by count per object."""

    max_age_days: float | None = 30.0
    max_transitions_per_object: int | None = 1000


# A running sync writes its heartbeat this often; one silent for SYNC_LEASE_SECONDS is gone.
SYNC_HEARTBEAT_SECONDS = 2.0
SYNC_LEASE_SECONDS = 15.0
# Any constant shared by every helmguard: two syncs starting together decide one at a time.
_PG_SYNC_LOCK = 0x68677379


def _now() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> Any:
    """Secrets redacted, then normalised to what JSON can hold (tuples -> lists, dates -> text)."""
    return json.loads(canonical_json(redact_secrets(value)))


def _inventory_json(items: Sequence[InventoryItem] | None) -> list[dict[str, str]] | None:
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


def _inventory_items(data: Any) -> tuple[InventoryItem, ...] | None:
    if data is None:
        return None
    return tuple(
        InventoryItem(ObjectRef(d["group"], d["kind"], d["namespace"], d["name"]), d.get("uid", ""))
        for d in data
    )


def _key_columns(ref: ObjectRef) -> dict[str, str]:
    return {"api_group": ref.group, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def _where_ref(model: KeyedModel, ref: ObjectRef) -> list[Any]:
    return [
        model.api_group == ref.group,
        model.kind == ref.kind,
        model.namespace == ref.namespace,
        model.name == ref.name,
    ]


def _release_id_query(key: ReleaseKey) -> Select[int]:
    return select(Release.id).where(
        Release.cluster == key.cluster,
        Release.namespace == key.namespace,
        Release.name == key.name,
    )


# The sync's hot path (a status write per watch notification) uses statements built once with
# bound parameters: building and cache-keying a statement per call cost more than running it.
_RELEASE_ID = select(Release.id).where(
    Release.cluster == bindparam("k_cluster"),
    Release.namespace == bindparam("k_namespace"),
    Release.name == bindparam("k_name"),
)
_RELEASE_IDS = select(
    Release.id,
    Release.cluster,
    Release.namespace,
    Release.name,
    Release.app_state,
    Release.app_reason,
    Release.app_message,
    Release.app_root_cause,
).where(Release.name.in_(bindparam("k_names", expanding=True)))
# A superset (any of the releases x any of the names), narrowed in Python: two IN lists
# are one statement where a lookup per object would be one each.
_RESOURCE_ROWS = select(
    Resource.id,
    Resource.release_id,
    Resource.api_group,
    Resource.kind,
    Resource.namespace,
    Resource.name,
    Resource.state,
    Resource.reason,
    Resource.message,
    Resource.root_cause,
).where(
    Resource.release_id.in_(bindparam("k_releases", expanding=True)),
    Resource.name.in_(bindparam("k_names", expanding=True)),
)
_INSERT_RESOURCE = insert(Resource)
_UPDATE_RESOURCE = update(Resource).where(Resource.id == bindparam("k_id"))
_INSERT_TRANSITION = insert(StatusTransition)
_LAST_LOG_SEQ = select(func.max(OperationLog.seq)).where(
    OperationLog.release_id == bindparam("k_release"),
    OperationLog.revision == bindparam("k_revision"),
)
_INSERT_LOG = insert(OperationLog)
_UPDATE_APP = update(Release).where(Release.id == bindparam("k_id"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _sync_holder(row: Any) -> SyncHolder:
    return SyncHolder(row.cluster, row.holder, row.host, row.pid, row.started_at, row.heartbeat_at)


def _holder_gone(holder: SyncHolder, now: datetime) -> bool:
    """Silent past the lease, or a process of this host that no longer exists (SIGKILLed)."""
    if now - holder.heartbeat_at > timedelta(seconds=SYNC_LEASE_SECONDS):
        return True
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid)


def _describe_holder(holder: SyncHolder, now: datetime, url: str) -> str:
    cluster = f"cluster {holder.cluster!r}" if holder.cluster else "the cluster"
    beat = max(0.0, (now - holder.heartbeat_at).total_seconds())
    return (
        f"a sync of {cluster} into {url} is already running: helmguard pid {holder.pid} on "
        f"{holder.host}, since {holder.started_at.isoformat(timespec='seconds')}, last "
        f"heartbeat {beat:.1f} s ago; its API and stream already show every change, including "
        f"this process's deploys. Stop it first to run another sync on this store"
    )


def _release_id(connection: Connection, key: ReleaseKey) -> int:
    release_id = connection.execute(
        _RELEASE_ID,
        {"k_cluster": key.cluster, "k_namespace": key.namespace, "k_name": key.name},
    ).scalar_one_or_none()
    if release_id is None:
        raise StoreError(f"release {key} is not recorded; record_release() it first")
    return release_id


_RowKey = tuple[int, str, str, str, str]  # release id, group, kind, namespace, name
T = TypeVar("T")
_CHUNK = 400  # values per IN list: two lists stay far below SQLite's parameter limit


def _chunks(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _upsert_statuses(
    connection: Connection,
    items: list[tuple[ReleaseKey, ObservedStatus]],
    apps: list[tuple[ReleaseKey, AppRecord]],
) -> tuple[list[bool | None], list[bool | None]]:
    """Apply status observations in order with a handful of statements, whatever their number.

    The current rows of every object involved (and the app columns of every release) are
    read once; each item is then compared with the row as the items before it left it; at
    the end each row is written once (its final value) and the transitions are inserted in
    order, the objects' before the apps'.
    """
    wanted_releases = {key for key, _ in items} | {key for key, _ in apps}
    release_ids: dict[ReleaseKey, int | None] = dict.fromkeys(wanted_releases)
    # Per release: [state, reason, message, root cause] of its app status as stored.
    app_rows: dict[int, list[Any]] = {}
    for names in _chunks(sorted({key.name for key in wanted_releases})):
        for found in connection.execute(_RELEASE_IDS, {"k_names": names}):
            key = ReleaseKey(found.namespace, found.name, cluster=found.cluster)
            if key in release_ids:
                release_ids[key] = found.id
                app_rows[found.id] = [
                    found.app_state,
                    found.app_reason,
                    found.app_message,
                    found.app_root_cause,
                ]
    known = sorted({rid for rid in release_ids.values() if rid is not None})
    wanted = {
        (rid, s.ref.group, s.ref.kind, s.ref.namespace, s.ref.name)
        for key, s in items
        if (rid := release_ids[key]) is not None
    }
    # Per object: [row id (None: inserted by this batch), state, reason, message, root cause].
    rows: dict[_RowKey, list[Any]] = {}
    for ids in _chunks(known):
        for names in _chunks(sorted({k[4] for k in wanted})):
            for found in connection.execute(_RESOURCE_ROWS, {"k_releases": ids, "k_names": names}):
                key5 = (found.release_id, found.api_group, found.kind, found.namespace, found.name)
                if key5 in wanted:
                    rows[key5] = [
                        found.id,
                        found.state,
                        found.reason,
                        found.message,
                        found.root_cause,
                    ]
    inserts: dict[_RowKey, dict[str, Any]] = {}
    updates: dict[int, dict[str, Any]] = {}
    transitions: list[dict[str, Any]] = []
    results: list[bool | None] = []
    for key, status in items:
        if (rid := release_ids[key]) is None:
            results.append(None)
            continue
        key5 = (rid, status.ref.group, status.ref.kind, status.ref.namespace, status.ref.name)
        root = ref_to_json(status.root_cause)
        current = [status.state, status.reason, status.message, root]
        values: dict[str, Any] = {
            "observed_at": status.observed_at,
            "resource_version": status.resource_version,
            "generation": status.generation,
            "owner": ref_to_json(status.owner),
            "restarts": status.restarts,
        }
        row = rows.get(key5)
        changed = row is None or row[1:] != current
        if changed:
            values.update(
                state=status.state,
                reason=status.reason,
                message=status.message,
                root_cause=root,
                since=status.since,
            )
            transitions.append(
                {
                    "release_id": rid,
                    **_key_columns(status.ref),
                    "from_state": None if row is None else row[1],
                    "to_state": status.state,
                    "reason": status.reason,
                    "message": status.message,
                    "root_cause": root,
                    "at": status.since,
                }
            )
        if row is None:
            inserts[key5] = {"release_id": rid, **_key_columns(status.ref), **values}
            rows[key5] = [None, *current]
        else:
            if row[0] is None:
                inserts[key5].update(values)
            else:
                updates.setdefault(row[0], {}).update(values)
            row[1:] = current
        results.append(changed)
    if inserts:
        connection.execute(_INSERT_RESOURCE, list(inserts.values()))
    # executemany needs one set of columns per call: full rows apart from observed-only ones.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in updates.items():
        by_columns.setdefault(tuple(sorted(values)), []).append({"k_id": row_id, **values})
    for batch in by_columns.values():
        connection.execute(_UPDATE_RESOURCE, batch)
    app_results = _upsert_apps(connection, apps, release_ids, app_rows, transitions)
    if transitions:
        connection.execute(_INSERT_TRANSITION, transitions)
    return results, app_results


def _upsert_apps(
    connection: Connection,
    apps: list[tuple[ReleaseKey, AppRecord]],
    release_ids: Mapping[ReleaseKey, int | None],
    stored: dict[int, list[Any]],
    transitions: list[dict[str, Any]],
) -> list[bool | None]:
    """Write app statuses into their releases' columns; append their transitions (in order)."""
    updates: dict[int, dict[str, Any]] = {}
    results: list[bool | None] = []
    for key, app in apps:
        if (rid := release_ids[key]) is None:
            results.append(None)
            continue
        root = ref_to_json(app.root_cause)
        current = [app.state, app.reason, app.message, root]
        row = stored[rid]
        values: dict[str, Any] = updates.setdefault(rid, {})
        values["app_observed_at"] = app.observed_at
        changed = row != current
        if changed:
            values.update(
                app_state=app.state,
                app_reason=app.reason,
                app_message=app.message,
                app_root_cause=root,
                app_since=app.since,
            )
            transitions.append(
                {
                    "release_id": rid,
                    **_key_columns(app_ref(key)),
                    "from_state": row[0],
                    "to_state": app.state,
                    "reason": app.reason,
                    "message": app.message,
                    "root_cause": root,
                    "at": app.since,
                }
            )
            stored[rid] = current
        results.append(changed)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for rid, values in updates.items():
        by_columns.setdefault(tuple(sorted(values)), []).append({"k_id": rid, **values})
    for batch in by_columns.values():
        connection.execute(_UPDATE_APP, batch)
    return results


def _operation_logs_op(
    release: ReleaseKey, revision: int, steps: Sequence[LogStep]
) -> Callable[[Connection], None]:
    rows = [
        {
            "revision": revision,
            "at": s.at or _now(),
            "level": s.level,
            "step": s.step,
            "message": s.message,
            "details": _json(dict(s.details)),
        }
        for s in steps
    ]

    def op(connection: Connection) -> None:
        release_id = _release_id(connection, release)
        last = connection.execute(
            _LAST_LOG_SEQ, {"k_release": release_id, "k_revision": revision}
        ).scalar_one_or_none()
        for seq, row in enumerate(rows, start=(last or 0) + 1):
            row.update(release_id=release_id, seq=seq)
        connection.execute(_INSERT_LOG, rows)

    return op


class Store:
    """helmguard's durable state. Writes go through one writer task; reads run concurrently.

    Build it with `open_store`; close it with `await store.close()` or `async with`.
    """

    def __init__(
        self,
        target: Target,
        read_engine: AsyncEngine,
        writer: BatchWriter | None,
        backend: WriteBackend | None,
        retention: Retention,
    ) -> None:
        self.target = target
        self.retention = retention
        self._read = read_engine
        self._writer = writer
        self._backend = backend

    @property
    def url(self) -> str:
        """Where the data lives, password hidden."""
        return self.target.display

    @property
    def read_only(self) -> bool:
        return self._writer is None

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit queued writes, then release the connections."""
        try:
            if self._writer is not None:
                await self._writer.close()
        finally:
            if self._backend is not None:
                await self._backend.dispose()
            await self._read.dispose()

    def _require_writer(self) -> BatchWriter:
        if self._writer is None:
            raise StoreError(f"database {self.url} was opened read-only")
        return self._writer

    async def flush(self) -> None:
        """Return once every write queued so far is committed; raise if any of them failed."""
        await self._require_writer().flush()

    # ---- writes -------------------------------------------------------------------------

    async def record_release(self, release: ReleaseRecord, *, wait: bool = True) -> None:
        """Create or update a release's row (chart, version, current revision, status)."""
        key = release.key
        values = {
            "chart": release.chart,
            "chart_version": release.chart_version,
            "current_revision": release.current_revision,
            "status": release.status,
            "updated_at": release.updated_at or _now(),
        }

        def op(connection: Connection) -> None:
            existing = (connection.execute(_release_id_query(key))).scalar_one_or_none()
            if existing is None:
                connection.execute(
                    insert(Release).values(
                        cluster=key.cluster, namespace=key.namespace, name=key.name, **values
                    )
                )
            else:
                connection.execute(update(Release).where(Release.id == existing).values(**values))

        await self._write(op, wait)

    async def delete_release(self, key: ReleaseKey) -> bool:
        """Forget a release and everything recorded about it; False if it was not recorded."""

        def op(connection: Connection) -> bool:
            result = connection.execute(
                delete(Release).where(
                    Release.cluster == key.cluster,
                    Release.namespace == key.namespace,
                    Release.name == key.name,
                )
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def record_revision(self, revision: RevisionRecord, *, wait: bool = True) -> None:
        """Create or replace one revision of a recorded release; Secrets in `plan` are redacted."""
        values = {
            "chart": revision.chart,
            "chart_version": revision.chart_version,
            "values_digest": revision.values_digest,
            "plan": _json(revision.plan) if revision.plan is not None else None,
            "outcome": revision.outcome,
            "started_at": revision.started_at,
            "finished_at": revision.finished_at,
            "inventory": _inventory_json(revision.inventory),
        }

        def op(connection: Connection) -> None:
            release_id = _release_id(connection, revision.release)
            existing = (
                connection.execute(
                    select(Revision.id).where(
                        Revision.release_id == release_id, Revision.number == revision.number
                    )
                )
            ).scalar_one_or_none()
            if existing is None:
                connection.execute(
                    insert(Revision).values(release_id=release_id, number=revision.number, **values)
                )
            else:
                connection.execute(update(Revision).where(Revision.id == existing).values(**values))

        await self._write(op, wait)

    async def finish_revision(
        self,
        key: ReleaseKey,
        number: int,
        outcome: str,
        *,
        finished_at: datetime | None = None,
        inventory: Sequence[InventoryItem] | None = None,
        wait: bool = True,
    ) -> None:
        """Set a recorded revision's outcome and finish time (and its inventory, if given)."""
        values: dict[str, Any] = {"outcome": outcome, "finished_at": finished_at or _now()}
        if inventory is not None:
            values["inventory"] = _inventory_json(inventory)

        def op(connection: Connection) -> None:
            release_id = _release_id(connection, key)
            result = connection.execute(
                update(Revision)
                .where(Revision.release_id == release_id, Revision.number == number)
                .values(**values)
            )
            if not result.rowcount:
                raise StoreError(f"release {key} has no recorded revision {number}")

        await self._write(op, wait)

    async def upsert_resource_status(self, release: ReleaseKey, status: ObservedStatus) -> bool:
        """Store an object's observed status; True if state, reason, message or root cause changed.

        A change also records a transition (from_state None for the first observation) in the
        same transaction. An unchanged status still updates observed_at and resource_version,
        and keeps the stored `since`.
        """
        (changed,) = await self.upsert_resource_statuses([(release, status)])
        if changed is None:
            raise StoreError(f"release {release} is not recorded; record_release() it first")
        return changed

    async def upsert_resource_statuses(
        self, statuses: Sequence[tuple[ReleaseKey, ObservedStatus]]
    ) -> list[bool | None]:
        """`upsert_resource_status` for many objects in one transaction, in order.

        Returns, per item, whether it changed the stored status, or None when its release is
        not recorded (that item is skipped; the others are stored). Items for one object apply
        in the order given, each a transition if it differs from the one before.
        """
        changed, _ = await self.upsert_statuses(statuses)
        return changed

    async def upsert_statuses(
        self,
        resources: Sequence[tuple[ReleaseKey, ObservedStatus]] = (),
        apps: Sequence[tuple[ReleaseKey, AppRecord]] = (),
    ) -> tuple[list[bool | None], list[bool | None]]:
        """Objects' statuses (as `upsert_resource_statuses`) and apps' in one transaction.

        An app status goes to its release's columns (`ReleaseRecord.app`); when its state,
        reason, message or root cause changes, a transition is recorded under `app_ref(key)`,
        so the release's history holds its own changes too. Returns, per item of each list,
        whether it changed the stored status, or None when its release is not recorded.
        """
        items, app_items = list(resources), list(apps)

        def op(connection: Connection) -> tuple[list[bool | None], list[bool | None]]:
            return _upsert_statuses(connection, items, app_items)

        if not items and not app_items:
            return [], []
        changed, app_changed = await self._require_writer().submit(op)
        return list(changed), list(app_changed)

    async def remove_resource(self, release: ReleaseKey, ref: ObjectRef) -> bool:
        """Drop an object's current-status row (it left the release); its history stays."""

        def op(connection: Connection) -> bool:
            release_id = _release_id(connection, release)
            result = connection.execute(
                delete(Resource).where(
                    Resource.release_id == release_id, *_where_ref(Resource, ref)
                )
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def add_transition(self, transition: TransitionRecord, *, wait: bool = True) -> None:
        """Append one transition to history as given (upsert_resource_status records its own)."""

        def op(connection: Connection) -> None:
            release_id = _release_id(connection, transition.release)
            connection.execute(
                insert(StatusTransition).values(
                    release_id=release_id,
                    **_key_columns(transition.ref),
                    from_state=transition.from_state,
                    to_state=transition.to_state,
                    reason=transition.reason,
                    message=transition.message,
                    root_cause=ref_to_json(transition.root_cause),
                    at=transition.at,
                )
            )

        await self._write(op, wait)

    async def add_events(self, release: ReleaseKey, events: Sequence[EventRecord]) -> int:
        """Store Events correlated to a release's objects; return how many were new or grew.

        An Event is stored once per uid; seeing it again with a higher count updates its
        count, message and last_seen; the same or a lower count (a re-list) changes nothing.
        """
        batch = list(events)

        def op(connection: Connection) -> int:
            release_id = _release_id(connection, release)
            uids = sorted({e.uid for e in batch})
            known: dict[str, tuple[int, int]] = {}
            for start in range(0, len(uids), 500):
                rows = connection.execute(
                    select(Event.uid, Event.id, Event.count).where(
                        Event.uid.in_(uids[start : start + 500])
                    )
                )
                known.update({r.uid: (r.id, r._mapping["count"]) for r in rows})
            changed = 0
            for e in batch:
                seen = known.get(e.uid)
                if seen is not None and seen[1] >= e.count:
                    continue
                if seen is None:
                    result = connection.execute(
                        insert(Event).values(
                            release_id=release_id,
                            uid=e.uid,
                            **_key_columns(e.ref),
                            type=e.type,
                            reason=e.reason,
                            message=e.message,
                            count=e.count,
                            source=e.source,
                            first_seen=e.first_seen,
                            last_seen=e.last_seen,
                        )
                    )
                    new_id = result.inserted_primary_key
                    known[e.uid] = (int(new_id[0]) if new_id else 0, e.count)
                else:
                    connection.execute(
                        update(Event)
                        .where(Event.id == seen[0])
                        .values(
                            count=e.count, message=e.message, reason=e.reason, last_seen=e.last_seen
                        )
                    )
                    known[e.uid] = (seen[0], e.count)
                changed += 1
            return changed

        return int(await self._require_writer().submit(op))

    async def add_operation_log(
        self,
        release: ReleaseKey,
        revision: int,
        step: str,
        message: str,
        *,
        level: str = "info",
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        wait: bool = True,
    ) -> None:
        """Append a step to a revision's operation log; `seq` numbers entries in arrival order.

        Secrets inside `details` are redacted before they reach the database.
        """
        entry = LogStep(step, message, level, details or {}, at)
        await self.add_operation_logs(release, revision, [entry], wait=wait)

    async def add_operation_logs(
        self, release: ReleaseKey, revision: int, steps: Sequence[LogStep], *, wait: bool = True
    ) -> None:
        """Append steps to a revision's operation log in one transaction, in order."""
        if steps:
            await self._write(_operation_logs_op(release, revision, steps), wait)

    def post_operation_logs(
        self, release: ReleaseKey, revision: int, steps: Sequence[LogStep]
    ) -> None:
        """`add_operation_logs(wait=False)` for synchronous callers: queued, committed with the
        writer's next batch; a failure is raised by the next `flush()`."""
        if steps:
            self._require_writer().post(_operation_logs_op(release, revision, steps))

    async def prune_history(
        self,
        older_than: datetime | None = None,
        *,
        max_transitions_per_object: int | None = None,
    ) -> PruneResult:
        """Delete history older than `older_than` and transitions beyond the per-object cap.

        Without arguments the store's Retention applies. Current statuses are never pruned.
        """
        cap = max_transitions_per_object or self.retention.max_transitions_per_object
        cutoff = older_than
        if cutoff is None and self.retention.max_age_days is not None:
            cutoff = _now() - timedelta(days=self.retention.max_age_days)

        def op(connection: Connection) -> PruneResult:
            transitions = events = logs = 0
            if cutoff is not None:
                transitions = (
                    connection.execute(delete(StatusTransition).where(StatusTransition.at < cutoff))
                ).rowcount
                events = (
                    connection.execute(delete(Event).where(Event.last_seen < cutoff))
                ).rowcount
                logs = (
                    connection.execute(delete(OperationLog).where(OperationLog.at < cutoff))
                ).rowcount
            if cap is not None:
                position = (
                    func.row_number()
                    .over(
                        partition_by=(
                            StatusTransition.release_id,
                            StatusTransition.api_group,
                            StatusTransition.kind,
                            StatusTransition.namespace,
                            StatusTransition.name,
                        ),
                        order_by=(StatusTransition.at.desc(), StatusTransition.id.desc()),
                    )
                    .label("position")
                )
                ranked = select(StatusTransition.id, position).subquery()
                excess = select(ranked.c.id).where(ranked.c.position > cap)
                transitions += (
                    connection.execute(
                        delete(StatusTransition).where(StatusTransition.id.in_(excess))
                    )
                ).rowcount
            return PruneResult(transitions=transitions, events=events, operation_log=logs)

        result = await self._require_writer().submit(op)
        assert isinstance(result, PruneResult)
        return result

    async def _write(self, op: Any, wait: bool) -> None:
        writer = self._require_writer()
        if wait:
            await writer.submit(op)
        else:
            writer.post(op)

    # ---- sync leases ---------------------------------------------------------------------

    async def acquire_sync(self, cluster: str = "", *, take_over: bool = False) -> str:
        """Become the one sync of `cluster` on this store; return the holder id to renew with.

        Raises SyncRunning, naming the process, while another sync of the cluster is alive:
        it heartbeats (`renew_sync`) within SYNC_LEASE_SECONDS and, on this host, exists.
        `take_over`: the caller won the cluster's leader election (helmguard.sync.leader),
        which the previous holder lost: its lease is taken at once (it sees so on its next
        heartbeat and stops).
        """
        holder = os.urandom(16).hex()
        host, pid = socket.gethostname(), os.getpid()

        def op(connection: Connection) -> SyncHolder | None:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SYNC_LOCK})")
            now = _now()
            row = connection.execute(
                select(SyncLease).where(SyncLease.cluster == cluster)
            ).one_or_none()
            if (
                row is not None
                and not take_over
                and not _holder_gone(current := _sync_holder(row), now)
            ):
                return current
            values = {
                "holder": holder,
                "host": host,
                "pid": pid,
                "started_at": now,
                "heartbeat_at": now,
            }
            if row is None:
                connection.execute(insert(SyncLease).values(cluster=cluster, **values))
            else:
                connection.execute(
                    update(SyncLease).where(SyncLease.cluster == cluster).values(**values)
                )
            return None

        running = await self._require_writer().submit(op)
        if running is not None:
            raise SyncRunning(_describe_holder(running, _now(), self.url))
        return holder

    async def renew_sync(self, cluster: str, holder: str) -> bool:
        """Write the heartbeat of a held sync lease; False if another sync has taken it over."""

        def op(connection: Connection) -> bool:
            result = connection.execute(
                update(SyncLease)
                .where(SyncLease.cluster == cluster, SyncLease.holder == holder)
                .values(heartbeat_at=_now())
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def release_sync(self, cluster: str, holder: str) -> None:
        """Give a held sync lease up (a sync that stops); someone else's is left alone."""

        def op(connection: Connection) -> None:
            connection.execute(
                delete(SyncLease).where(SyncLease.cluster == cluster, SyncLease.holder == holder)
            )

        await self._require_writer().submit(op)

    async def sync_holder(self, cluster: str = "") -> SyncHolder | None:
        """Who holds `cluster`'s sync lease (alive or not), or None when no sync holds it."""
        rows = await self._rows(select(SyncLease).where(SyncLease.cluster == cluster))
        return _sync_holder(rows[0]) if rows else None

    async def sync_heartbeat(self, cluster: str = "") -> datetime | None:
        """The last heartbeat of `cluster`'s sync; None when none runs (or it stopped cleanly).

        A live sync beats every SYNC_HEARTBEAT_SECONDS: a beat older than SYNC_LEASE_SECONDS
        was left by a sync that died.
        """
        holder = await self.sync_holder(cluster)
        return holder.heartbeat_at if holder is not None else None

    # ---- reads --------------------------------------------------------------------------

    async def _rows(self, query: Any) -> list[Row[Any]]:
        async def read() -> list[Row[Any]]:
            async with self._read.connect() as connection:
                return list((await connection.execute(query)).all())

        try:
            return await retry_busy(read)
        except StoreError:
            raise
        except Exception as exc:
            raise describe(exc, self.target) from exc

    async def list_releases(self, cluster: str | None = None) -> list[ReleaseRecord]:
        """All recorded releases (of one cluster if given), by namespace and name."""
        query = select(Release).order_by(Release.cluster, Release.namespace, Release.name)
        if cluster is not None:
            query = query.where(Release.cluster == cluster)
        return [release_record(row) for row in await self._rows(query)]

    async def release_marks(self, cluster: str = "") -> dict[ReleaseKey, tuple[Any, ...]]:
        """Per release of `cluster`, a value that changes whenever a revision is written.

        One cheap query, so a sync can poll it to notice what other processes deployed.
        """
        query = (
            select(
                Release.namespace,
                Release.name,
                Release.current_revision,
                func.count(Revision.id),
                func.max(Revision.id),
                func.max(Revision.started_at),
                func.max(Revision.finished_at),
            )
            .outerjoin(Revision, Revision.release_id == Release.id)
            .where(Release.cluster == cluster)
            .group_by(Release.id, Release.namespace, Release.name, Release.current_revision)
        )
        rows: list[Any] = await self._rows(query)
        return {ReleaseKey(row[0], row[1], cluster): tuple(row[2:]) for row in rows}

    async def get_release(self, key: ReleaseKey) -> ReleaseRecord | None:
        """The release's row, or None if it is not recorded."""
        query = select(Release).where(
            Release.cluster == key.cluster,
            Release.namespace == key.namespace,
            Release.name == key.name,
        )
        rows = await self._rows(query)
        return release_record(rows[0]) if rows else None

    async def list_revisions(self, key: ReleaseKey) -> list[RevisionRecord]:
        """A release's revisions, oldest first."""
        query = (
            select(Revision)
            .where(Revision.release_id == _release_id_query(key).scalar_subquery())
            .order_by(Revision.number)
        )
        return [
            RevisionRecord(
                release=key,
                number=row.number,
                chart=row.chart,
                chart_version=row.chart_version,
                values_digest=row.values_digest,
                started_at=row.started_at,
                plan=row.plan,
                outcome=row.outcome,
                finished_at=row.finished_at,
                inventory=_inventory_items(row.inventory),
            )
            for row in await self._rows(query)
        ]

    async def list_resources(
        self, key: ReleaseKey, *, children: bool = False
    ) -> list[ResourceRecord]:
        """Current status of each object of a release, by group, kind, namespace, name.

        The release's members only; with `children`, only its workloads' children
        (ReplicaSets, Pods, Jobs: rows with an owner).
        """
        owned = Resource.owner.is_not(None) if children else Resource.owner.is_(None)
        query = (
            select(Resource)
            .where(Resource.release_id == _release_id_query(key).scalar_subquery(), owned)
            .order_by(Resource.api_group, Resource.kind, Resource.namespace, Resource.name)
        )
        return [resource_record(row, key) for row in await self._rows(query)]

    async def history(
        self,
        key: ReleaseKey,
        *,
        ref: ObjectRef | None = None,
        limit: int = 100,
        since: datetime | None = None,
    ) -> list[TransitionRecord]:
        """A release's (or one object's) status transitions, newest first."""
        query = select(StatusTransition).where(
            StatusTransition.release_id == _release_id_query(key).scalar_subquery()
        )
        if ref is not None:
            query = query.where(*_where_ref(StatusTransition, ref))
        if since is not None:
            query = query.where(StatusTransition.at >= since)
        query = query.order_by(StatusTransition.at.desc(), StatusTransition.id.desc()).limit(limit)
        return [transition_record(row, key) for row in await self._rows(query)]

    async def events(
        self, key: ReleaseKey, *, ref: ObjectRef | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """Events of a release's objects (or of one object), most recently seen first."""
        query = select(Event).where(Event.release_id == _release_id_query(key).scalar_subquery())
        if ref is not None:
            query = query.where(*_where_ref(Event, ref))
        query = query.order_by(Event.last_seen.desc(), Event.id.desc()).limit(limit)
        return [
            EventRecord(
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
            for row in await self._rows(query)
        ]

    async def operation_log(self, key: ReleaseKey, revision: int | None = None) -> list[LogEntry]:
        """A release's operation log (one revision's if given), in the order it was written."""
        query = select(OperationLog).where(
            OperationLog.release_id == _release_id_query(key).scalar_subquery()
        )
        if revision is not None:
            query = query.where(OperationLog.revision == revision)
        query = query.order_by(OperationLog.revision, OperationLog.seq)
        return [log_entry(row, key) for row in await self._rows(query)]

    # ---- the chart catalogue -------------------------------------------------------------

    async def add_repository(self, repository: RepositoryRecord) -> bool:
        """Register a repository; False (nothing written) if one of that name exists."""
        values = {
            "url": repository.url,
            "kind": repository.kind,
            "username": repository.username,
            "secret": repository.secret,
            "ca_file": repository.ca_file,
            "insecure": repository.insecure,
            "added_at": repository.added_at or _now(),
            "index": None,
            "index_fetched_at": None,
        }

        def op(connection: Connection) -> bool:
            exists = connection.execute(
                select(ChartRepository.id).where(ChartRepository.name == repository.name)
            ).first()
            if exists is not None:
                return False
            connection.execute(insert(ChartRepository).values(name=repository.name, **values))
            return True

        return bool(await self._require_writer().submit(op))

    async def set_repository_index(
        self, name: str, index: Sequence[Mapping[str, Any]], fetched_at: datetime
    ) -> bool:
        """Store a repository's freshly read index; False if the repository is not registered."""
        entries = [dict(e) for e in index]

        def op(connection: Connection) -> bool:
            result = connection.execute(
                update(ChartRepository)
                .where(ChartRepository.name == name)
                .values(index=entries, index_fetched_at=fetched_at)
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def remove_repository(self, name: str) -> bool:
        """Forget a repository, its credentials and its index; False if it was not registered."""

        def op(connection: Connection) -> bool:
            result = connection.execute(delete(ChartRepository).where(ChartRepository.name == name))
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def list_repositories(self, *, with_index: bool = False) -> list[RepositoryRecord]:
        """Every registered repository by name; their cached indexes only if asked."""
        rows = await self._rows(select(ChartRepository).order_by(ChartRepository.name))
        return [_repository_record(row, with_index) for row in rows]

    async def get_repository(self, name: str) -> RepositoryRecord | None:
        """One repository with its cached index, or None."""
        rows = await self._rows(select(ChartRepository).where(ChartRepository.name == name))
        return _repository_record(rows[0], True) if rows else None


def _repository_record(row: Any, with_index: bool) -> RepositoryRecord:
    index = tuple(row.index) if with_index and row.index is not None else None
    return RepositoryRecord(
        name=row.name,
        url=row.url,
        kind=row.kind,
        username=row.username,
        secret=row.secret,
        ca_file=row.ca_file,
        insecure=bool(row.insecure),
        added_at=row.added_at,
        index=index,
        index_fetched_at=row.index_fetched_at,
    )


async def open_store(
    url: str | None = None,
    *,
    read_only: bool = False,
    retention: Retention | None = None,
    max_batch: int = 500,
) -> Store:
    """Open (and migrate to head) helmguard's database; raise StoreError with a one-line reason.

    `url`: a file path, `sqlite:///PATH` or `postgresql+asyncpg://…`; None means
    $HELMGUARD_DB, else `helmguard.db` in the user's data directory. Any number of processes
    may open the same database for writing at once (a SQLite file too: see `helmguard.store.db`);
    `read_only` does not migrate, and the database must already be at this code's head.
    """
    target = resolve(url)
    prepare_sqlite_file(target, create=not read_only)
    backend: WriteBackend | None = None
    read_engine = create_engine(target, writer=False)
    try:
        if read_only:
            async with read_engine.connect() as connection:
                current = await connection.run_sync(migrate.current_revision)
            if current != migrate.HEAD:
                raise StoreError(
                    f"database {target.display} is at migration {current or '(none)'}, this "
                    f"helmguard needs {migrate.HEAD}; run `helmguard db upgrade`"
                )
            return Store(target, read_engine, None, None, retention or Retention())
        backend = WriteBackend(target)
        await backend.run(migrate.upgrade)
    except BaseException as exc:
        await read_engine.dispose()
        if backend is not None:
            await backend.dispose()
        if isinstance(exc, Exception):
            raise describe(exc, target) from exc
        raise
    writer = BatchWriter(backend, lambda exc: describe(exc, target), max_batch=max_batch)
    writer.start()
    return Store(target, read_engine, writer, backend, retention or Retention())
