"""The store's read side: every query helmguard's commands and its HTTP API read with.

Per-release questions (a release, its revisions, resources, history, events, log), the
release list with every release's worst resource in one round trip, and the live stream's
"rows after id N", which works whether the writer is this process or another one. All run
on the store's read engine, concurrently with the writer.

One file past 400 lines: every read query in one place, so that the SQL the commands and
the API depend on is reviewed (and indexed) together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from helmguard.manifest import ObjectRef
from helmguard.store.core import StoreCore, release_id_query, where_ref
from helmguard.store.models import (
    Event,
    OperationLog,
    Release,
    Resource,
    Revision,
    StatusTransition,
)
from helmguard.store.records import (
    Culprit,
    EventRecord,
    FeedEvent,
    FeedStep,
    FeedTransition,
    LogEntry,
    ReleaseKey,
    ReleaseRecord,
    ReleaseSummary,
    ResourceRecord,
    RevisionRecord,
    TransitionRecord,
)
from helmguard.store.rows import (
    event_record,
    log_entry,
    ref_from_json,
    ref_of,
    release_record,
    resource_record,
    revision_record,
    transition_record,
)

R = TypeVar("R")  # a record type, for `_per_release`


class Reads(StoreCore):
    """Reads of the store's tables; the answers are records, never ORM objects."""

    async def list_releases(self, cluster: str | None = None) -> list[ReleaseRecord]:
        """All recorded releases (of one cluster if given), by namespace and name."""
        query = select(Release).order_by(Release.c.cluster, Release.c.namespace, Release.c.name)
        if cluster is not None:
            query = query.where(Release.c.cluster == cluster)
        return [release_record(row) for row in await self._rows(query)]

    async def release_marks(self, cluster: str = "") -> dict[ReleaseKey, tuple[Any, ...]]:
        """Per release of `cluster`, a value that changes whenever a revision is written or
        the last operation's status changes (a deploy that ends: no longer `deploying`).

        One cheap query, so a sync can poll it to notice what other processes deployed.
        """
        query = (
            select(
                Release.c.namespace,
                Release.c.name,
                Release.c.current_revision,
                Release.c.status,
                func.count(Revision.c.id),
                func.max(Revision.c.id),
                func.max(Revision.c.started_at),
                func.max(Revision.c.finished_at),
            )
            .outerjoin(Revision, Revision.c.release_id == Release.c.id)
            .where(Release.c.cluster == cluster)
            .group_by(
                Release.c.id,
                Release.c.namespace,
                Release.c.name,
                Release.c.current_revision,
                Release.c.status,
            )
        )
        rows: list[Any] = await self._rows(query)
        return {ReleaseKey(row[0], row[1], cluster): tuple(row[2:]) for row in rows}

    async def unfinished_releases(self, cluster: str = "") -> list[ReleaseKey]:
        """Releases of `cluster` with a revision still pending or running, in one query."""
        query = (
            select(Release.c.namespace, Release.c.name)
            .join(Revision, Revision.c.release_id == Release.c.id)
            .where(Release.c.cluster == cluster, Revision.c.outcome.in_(("pending", "running")))
            .distinct()
            .order_by(Release.c.namespace, Release.c.name)
        )
        rows: list[Any] = await self._rows(query)
        return [ReleaseKey(row[0], row[1], cluster) for row in rows]

    async def get_release(self, key: ReleaseKey) -> ReleaseRecord | None:
        """The release's row, or None if it is not recorded."""
        query = select(Release).where(
            Release.c.cluster == key.cluster,
            Release.c.namespace == key.namespace,
            Release.c.name == key.name,
        )
        rows = await self._rows(query)
        return release_record(rows[0]) if rows else None

    async def list_revisions(self, key: ReleaseKey) -> list[RevisionRecord]:
        """A release's revisions, oldest first."""
        query = (
            select(Revision)
            .where(Revision.c.release_id == release_id_query(key).scalar_subquery())
            .order_by(Revision.c.number)
        )
        return [revision_record(row, key) for row in await self._rows(query)]

    async def cluster_revisions(self, cluster: str) -> dict[ReleaseKey, list[RevisionRecord]]:
        """Every revision of `cluster`'s releases, oldest first per release, in one query
        (a sync starting over hundreds of releases reads them at once)."""
        query = (
            select(
                Revision,
                Release.c.namespace.label("release_namespace"),
                Release.c.name.label("release_name"),
            )
            .join(Release, Release.c.id == Revision.c.release_id)
            .where(Release.c.cluster == cluster)
            .order_by(Revision.c.release_id, Revision.c.number)
        )
        return await self._per_release(query, cluster, revision_record)

    async def cluster_resources(
        self, cluster: str, *, children: bool = False
    ) -> dict[ReleaseKey, list[ResourceRecord]]:
        """`list_resources` of every release of `cluster`, in one query."""
        owned = Resource.c.owner.is_not(None) if children else Resource.c.owner.is_(None)
        query = (
            select(
                Resource,
                Release.c.namespace.label("release_namespace"),
                Release.c.name.label("release_name"),
            )
            .join(Release, Release.c.id == Resource.c.release_id)
            .where(Release.c.cluster == cluster, owned)
            .order_by(
                Resource.c.release_id,
                Resource.c.api_group,
                Resource.c.kind,
                Resource.c.namespace,
                Resource.c.name,
            )
        )
        return await self._per_release(query, cluster, resource_record)

    async def _per_release(
        self, query: Any, cluster: str, record: Callable[[Any, ReleaseKey], R]
    ) -> dict[ReleaseKey, list[R]]:
        """The rows of `query` (labelled release_namespace and release_name) as records,
        grouped by release, in the query's order."""
        out: dict[ReleaseKey, list[R]] = {}
        for row in await self._rows(query):
            key = ReleaseKey(row.release_namespace, row.release_name, cluster)
            out.setdefault(key, []).append(record(row, key))
        return out

    async def list_resources(
        self, key: ReleaseKey, *, children: bool = False
    ) -> list[ResourceRecord]:
        """Current status of each object of a release, by group, kind, namespace, name.

        The release's members only; with `children`, only its workloads' children
        (ReplicaSets, Pods, Jobs: rows with an owner).
        """
        owned = Resource.c.owner.is_not(None) if children else Resource.c.owner.is_(None)
        query = (
            select(Resource)
            .where(Resource.c.release_id == release_id_query(key).scalar_subquery(), owned)
            .order_by(Resource.c.api_group, Resource.c.kind, Resource.c.namespace, Resource.c.name)
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
            StatusTransition.c.release_id == release_id_query(key).scalar_subquery()
        )
        if ref is not None:
            query = query.where(*where_ref(StatusTransition, ref))
        if since is not None:
            query = query.where(StatusTransition.c.at >= since)
        query = query.order_by(StatusTransition.c.at.desc(), StatusTransition.c.id.desc()).limit(
            limit
        )
        return [transition_record(row, key) for row in await self._rows(query)]

    async def events(
        self, key: ReleaseKey, *, ref: ObjectRef | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """Events of a release's objects (or of one object), most recently seen first."""
        query = select(Event).where(Event.c.release_id == release_id_query(key).scalar_subquery())
        if ref is not None:
            query = query.where(*where_ref(Event, ref))
        query = query.order_by(Event.c.last_seen.desc(), Event.c.id.desc()).limit(limit)
        return [event_record(row) for row in await self._rows(query)]

    async def operation_log(self, key: ReleaseKey, revision: int | None = None) -> list[LogEntry]:
        """A release's operation log (one revision's if given), in the order it was written."""
        query = select(OperationLog).where(
            OperationLog.c.release_id == release_id_query(key).scalar_subquery()
        )
        if revision is not None:
            query = query.where(OperationLog.c.revision == revision)
        query = query.order_by(OperationLog.c.revision, OperationLog.c.seq)
        return [log_entry(row, key) for row in await self._rows(query)]

    async def release_summaries(
        self, severity: Callable[[str], int], ready: str
    ) -> list[ReleaseSummary]:
        """Every release with its app status, its resource counts by state and its worst
        resource (one connection).

        The states are helmguard.status's words, above the store: `severity` ranks a state
        (higher is worse) and a resource in the `ready` state is never the worst; pass the
        same two on every call. The answer is reused while nothing it depends on changed:
        every change of a state, reason, message or root cause (an object's or an app's)
        adds a transition, release rows carry updated_at, and added or removed resources
        change the count.
        """
        cached = self._summaries

        def read(connection: Connection) -> tuple[tuple[Any, ...], Any]:
            version = (
                connection.execute(
                    select(
                        select(func.max(StatusTransition.c.id)).scalar_subquery(),
                        select(func.max(Release.c.updated_at)).scalar_subquery(),
                        select(func.count(Release.c.id)).scalar_subquery(),
                        select(func.count(Resource.c.id)).scalar_subquery(),
                    )
                )
            ).one()
            key = tuple(version)
            if cached is not None and cached[0] == key:
                return key, None
            releases = (
                connection.execute(
                    select(
                        Release.c.id,
                        Release.c.cluster,
                        Release.c.namespace,
                        Release.c.name,
                        Release.c.chart,
                        Release.c.chart_version,
                        Release.c.current_revision,
                        Release.c.status,
                        Release.c.updated_at,
                        Release.c.app_state,
                        Release.c.app_reason,
                        Release.c.app_message,
                        Release.c.app_since,
                        Release.c.app_observed_at,
                        Release.c.app_root_cause,
                    ).order_by(Release.c.cluster, Release.c.namespace, Release.c.name)
                )
            ).all()
            counts = (
                connection.execute(
                    select(Resource.c.release_id, Resource.c.state, func.count()).group_by(
                        Resource.c.release_id, Resource.c.state
                    )
                )
            ).all()
            troubled = (
                connection.execute(
                    select(
                        Resource.c.release_id,
                        Resource.c.api_group,
                        Resource.c.kind,
                        Resource.c.namespace,
                        Resource.c.name,
                        Resource.c.state,
                        Resource.c.reason,
                        Resource.c.message,
                        Resource.c.since,
                        Resource.c.root_cause,
                    )
                    .where(Resource.c.state != ready)
                    .order_by(Resource.c.id)
                )
            ).all()
            return key, (releases, counts, troubled)

        key, answer = await self._read_with(read)
        if answer is None:
            assert cached is not None
            return cached[1]
        releases, counts, troubled = answer
        tally: dict[int, list[tuple[str, int]]] = {}
        for release_id, state, count in counts:
            tally.setdefault(release_id, []).append((state, int(count)))
        worst: dict[int, Any] = {}
        for row in troubled:
            best = worst.get(row.release_id)
            # Ties go to the earlier row (a stable choice across refreshes).
            if best is None or severity(row.state) > severity(best.state):
                worst[row.release_id] = row
        out: list[ReleaseSummary] = []
        for r in releases:
            record = release_record(r)
            bad = worst.get(r.id)
            culprit = None
            if bad is not None:
                culprit = Culprit(
                    ref=ref_of(bad),
                    state=bad.state,
                    reason=bad.reason,
                    message=bad.message,
                    since=bad.since,
                    root_cause=ref_from_json(bad.root_cause),
                )
            states = sorted(tally.get(r.id, []), key=lambda sc: -severity(sc[0]))
            out.append(ReleaseSummary(record, tuple(states), culprit))
        self._summaries = (key, out)
        return out

    async def last_ids(self) -> tuple[int, int, int]:
        """The highest transition, operation-log and Event ids stored so far (0 when empty)."""
        rows: list[Any] = await self._rows(
            select(
                select(func.max(StatusTransition.c.id)).scalar_subquery(),
                select(func.max(OperationLog.c.id)).scalar_subquery(),
                select(func.max(Event.c.id)).scalar_subquery(),
            )
        )
        first, second, third = rows[0]
        return int(first or 0), int(second or 0), int(third or 0)

    async def transitions_after(
        self, after: int, limit: int = 1000, *, among: Sequence[int] | None = None
    ) -> list[FeedTransition]:
        """Transitions with an id above `after` (and in `among` if given), in id order."""
        return _feed_transitions(await self._rows(_transitions_query(after, limit, among)))

    async def steps_after(
        self, after: int, limit: int = 1000, *, among: Sequence[int] | None = None
    ) -> list[FeedStep]:
        """Operation-log rows with an id above `after` (and in `among` if given), in id order."""
        return _feed_steps(await self._rows(_steps_query(after, limit, among)))

    async def events_after(
        self, after: int, limit: int = 1000, *, among: Sequence[int] | None = None
    ) -> list[FeedEvent]:
        """Events first stored with an id above `after` (and in `among` if given), in id order."""
        return _feed_events(await self._rows(_events_query(after, limit, among)))

    async def feed_after(
        self, transitions: int, steps: int, events: int, limit: int = 1000
    ) -> tuple[list[FeedTransition], list[FeedStep], list[FeedEvent]]:
        """`transitions_after`, `steps_after` and `events_after` at once, on one connection
        (the live stream's poll: one checkout instead of three)."""
        queries = (
            _transitions_query(transitions, limit, None),
            _steps_query(steps, limit, None),
            _events_query(events, limit, None),
        )

        def read(connection: Connection) -> list[list[Any]]:
            return [list(connection.execute(query).all()) for query in queries]

        found = await self._read_with(read)
        return _feed_transitions(found[0]), _feed_steps(found[1]), _feed_events(found[2])

    async def ping(self) -> None:
        """Raise StoreError unless the database answers a trivial query."""
        await self._rows(select(1))


def _after(query: Any, table: Any, after: int, limit: int, among: Sequence[int] | None) -> Any:
    """A feed's rows past id `after` (of `among` only, if given), with their release's key
    columns, oldest first, at most `limit`."""
    query = (
        query.join(Release, Release.c.id == table.c.release_id)
        .where(table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )
    return query.where(table.c.id.in_(among)) if among is not None else query


def _transitions_query(after: int, limit: int, among: Sequence[int] | None) -> Any:
    query: Any = select(
        StatusTransition.c.id,
        StatusTransition.c.api_group,
        StatusTransition.c.kind,
        StatusTransition.c.namespace,
        StatusTransition.c.name,
        StatusTransition.c.from_state,
        StatusTransition.c.to_state,
        StatusTransition.c.reason,
        StatusTransition.c.message,
        StatusTransition.c.at,
        StatusTransition.c.root_cause,
        Release.c.cluster,
        Release.c.namespace.label("release_namespace"),
        Release.c.name.label("release_name"),
    )
    return _after(query, StatusTransition, after, limit, among)


def _feed_transitions(rows: Sequence[Any]) -> list[FeedTransition]:
    return [
        FeedTransition(
            row.id,
            transition_record(
                row, ReleaseKey(row.release_namespace, row.release_name, row.cluster)
            ),
        )
        for row in rows
    ]


def _steps_query(after: int, limit: int, among: Sequence[int] | None) -> Any:
    query: Any = select(
        OperationLog.c.id,
        OperationLog.c.revision,
        OperationLog.c.seq,
        OperationLog.c.at,
        OperationLog.c.level,
        OperationLog.c.step,
        OperationLog.c.message,
        OperationLog.c.details,
        Release.c.cluster,
        Release.c.namespace,
        Release.c.name,
    )
    return _after(query, OperationLog, after, limit, among)


def _feed_steps(rows: Sequence[Any]) -> list[FeedStep]:
    return [
        FeedStep(row.id, log_entry(row, ReleaseKey(row.namespace, row.name, row.cluster)))
        for row in rows
    ]


def _events_query(after: int, limit: int, among: Sequence[int] | None) -> Any:
    query: Any = select(
        Event,
        Release.c.cluster.label("release_cluster"),
        Release.c.namespace.label("release_namespace"),
        Release.c.name.label("release_name"),
    )
    return _after(query, Event, after, limit, among)


def _feed_events(rows: Sequence[Any]) -> list[FeedEvent]:
    return [
        FeedEvent(
            row.id,
            ReleaseKey(row.release_namespace, row.release_name, row.release_cluster),
            event_record(row),
        )
        for row in rows
    ]
