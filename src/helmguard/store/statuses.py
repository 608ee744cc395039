"""Current statuses and their transitions: the sync's hot path, a few statements per batch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from helmguard.manifest import ObjectRef
from helmguard.store.core import (
    StoreCore,
    find_release_id,
    key_columns,
    release_id_of,
    where_ref,
)
from helmguard.store.errors import StoreError
from helmguard.store.models import Release, Resource, StatusTransition
from helmguard.store.records import AppRecord, ObservedStatus, ReleaseKey, TransitionRecord, app_ref
from helmguard.store.rows import ref_to_json

# Statements built once with bound parameters, as core's release lookup (see there).
_RELEASE_IDS = select(
    Release.c.id,
    Release.c.cluster,
    Release.c.namespace,
    Release.c.name,
    Release.c.app_state,
    Release.c.app_reason,
    Release.c.app_message,
    Release.c.app_root_cause,
).where(Release.c.name.in_(bindparam("k_names", expanding=True)))
# A superset (any of the releases x any of the names), narrowed in Python: two IN lists
# are one statement where a lookup per object would be one each.
_RESOURCE_ROWS = select(
    Resource.c.id,
    Resource.c.release_id,
    Resource.c.api_group,
    Resource.c.kind,
    Resource.c.namespace,
    Resource.c.name,
    Resource.c.state,
    Resource.c.reason,
    Resource.c.message,
    Resource.c.root_cause,
).where(
    Resource.c.release_id.in_(bindparam("k_releases", expanding=True)),
    Resource.c.name.in_(bindparam("k_names", expanding=True)),
)
_INSERT_RESOURCE = insert(Resource)
_UPDATE_RESOURCE = update(Resource).where(Resource.c.id == bindparam("k_id"))
_INSERT_TRANSITION = insert(StatusTransition)

_UPDATE_APP = update(Release).where(Release.c.id == bindparam("k_id"))


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
            for stored in connection.execute(_RESOURCE_ROWS, {"k_releases": ids, "k_names": names}):
                key5 = (
                    stored.release_id,
                    stored.api_group,
                    stored.kind,
                    stored.namespace,
                    stored.name,
                )
                if key5 in wanted:
                    rows[key5] = [
                        stored.id,
                        stored.state,
                        stored.reason,
                        stored.message,
                        stored.root_cause,
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
                    **key_columns(status.ref),
                    "from_state": None if row is None else row[1],
                    "to_state": status.state,
                    "reason": status.reason,
                    "message": status.message,
                    "root_cause": root,
                    "at": status.since,
                }
            )
        if row is None:
            inserts[key5] = {"release_id": rid, **key_columns(status.ref), **values}
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
                    **key_columns(app_ref(key)),
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


class StatusWrites(StoreCore):
    """Writes of objects' and apps' current statuses, and of transitions."""

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
        """Drop an object's current-status row (it left the release); its history stays.

        False when there was none, also when the release itself is gone (uninstalled while
        the sync still held it): its rows went with it.
        """

        def op(connection: Connection) -> bool:
            release_id = find_release_id(connection, release)
            if release_id is None:
                return False
            result = connection.execute(
                delete(Resource).where(
                    Resource.c.release_id == release_id, *where_ref(Resource, ref)
                )
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def add_transition(self, transition: TransitionRecord, *, wait: bool = True) -> None:
        """Append one transition to history as given (upsert_resource_status records its own)."""

        def op(connection: Connection) -> None:
            release_id = release_id_of(connection, transition.release)
            connection.execute(
                insert(StatusTransition).values(
                    release_id=release_id,
                    **key_columns(transition.ref),
                    from_state=transition.from_state,
                    to_state=transition.to_state,
                    reason=transition.reason,
                    message=transition.message,
                    root_cause=ref_to_json(transition.root_cause),
                    at=transition.at,
                )
            )

        await self._write(op, wait)
