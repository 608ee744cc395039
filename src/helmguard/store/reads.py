"""The store's read side: every query helmguard's commands and its HTTP API read with.

Per-release questions (a release, its revisions, resources, history, events, log), the
release list with every release's worst resource in one round trip, and the live stream's
"rows after id N", which works whether the writer is this process or another one. All run
on the store's read engine, concurrently with the writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select

from helmguard.manifest import ObjectRef
from helmguard.store.core import StoreCore, release_id_query, where_ref
from helmguard.store.db import describe, retry_busy
from helmguard.store.errors import StoreError
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

    async def unfinished_releases(self, cluster: str = "") -> list[ReleaseKey]:
        """Releases of `cluster` with a revision still pending or running, in one query."""
        query = (
            select(Release.namespace, Release.name)
            .join(Revision, Revision.release_id == Release.id)
            .where(Release.cluster == cluster, Revision.outcome.in_(("pending", "running")))
            .distinct()
            .order_by(Release.namespace, Release.name)
        )
        rows: list[Any] = await self._rows(query)
        return [ReleaseKey(row[0], row[1], cluster) for row in rows]

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
            .where(Revision.release_id == release_id_query(key).scalar_subquery())
            .order_by(Revision.number)
        )
        return [revision_record(row, key) for row in await self._rows(query)]

    async def cluster_revisions(self, cluster: str) -> dict[ReleaseKey, list[RevisionRecord]]:
        """Every revision of `cluster`'s releases, oldest first per release, in one query
        (a sync starting over hundreds of releases reads them at once)."""
        query = (
            select(
                Revision,
                Release.namespace.label("release_namespace"),
                Release.name.label("release_name"),
            )
            .join(Release, Release.id == Revision.release_id)
            .where(Release.cluster == cluster)
            .order_by(Revision.release_id, Revision.number)
        )
        return await self._per_release(query, cluster, revision_record)

    async def cluster_resources(
        self, cluster: str, *, children: bool = False
    ) -> dict[ReleaseKey, list[ResourceRecord]]:
        """`list_resources` of every release of `cluster`, in one query."""
        owned = Resource.owner.is_not(None) if children else Resource.owner.is_(None)
        query = (
            select(
                Resource,
                Release.namespace.label("release_namespace"),
                Release.name.label("release_name"),
            )
            .join(Release, Release.id == Resource.release_id)
            .where(Release.cluster == cluster, owned)
            .order_by(
                Resource.release_id,
                Resource.api_group,
                Resource.kind,
                Resource.namespace,
                Resource.name,
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
        owned = Resource.owner.is_not(None) if children else Resource.owner.is_(None)
        query = (
            select(Resource)
            .where(Resource.release_id == release_id_query(key).scalar_subquery(), owned)
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
            StatusTransition.release_id == release_id_query(key).scalar_subquery()
        )
        if ref is not None:
            query = query.where(*where_ref(StatusTransition, ref))
        if since is not None:
            query = query.where(StatusTransition.at >= since)
        query = query.order_by(StatusTransition.at.desc(), StatusTransition.id.desc()).limit(limit)
        return [transition_record(row, key) for row in await self._rows(query)]

    async def events(
        self, key: ReleaseKey, *, ref: ObjectRef | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """Events of a release's objects (or of one object), most recently seen first."""
        query = select(Event).where(Event.release_id == release_id_query(key).scalar_subquery())
        if ref is not None:
            query = query.where(*where_ref(Event, ref))
        query = query.order_by(Event.last_seen.desc(), Event.id.desc()).limit(limit)
        return [event_record(row) for row in await self._rows(query)]

    async def operation_log(self, key: ReleaseKey, revision: int | None = None) -> list[LogEntry]:
        """A release's operation log (one revision's if given), in the order it was written."""
        query = select(OperationLog).where(
            OperationLog.release_id == release_id_query(key).scalar_subquery()
        )
        if revision is not None:
            query = query.where(OperationLog.revision == revision)
        query = query.order_by(OperationLog.revision, OperationLog.seq)
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
        try:
            async with self._read.connect() as connection:
                version = (
                    await connection.execute(
                        select(
                            select(func.max(StatusTransition.id)).scalar_subquery(),
                            select(func.max(Release.updated_at)).scalar_subquery(),
                            select(func.count(Release.id)).scalar_subquery(),
                            select(func.count(Resource.id)).scalar_subquery(),
                        )
                    )
                ).one()
                key = tuple(version)
                if self._summaries is not None and self._summaries[0] == key:
                    return self._summaries[1]
                releases = (
                    await connection.execute(
                        select(
                            Release.id,
                            Release.cluster,
                            Release.namespace,
                            Release.name,
                            Release.chart,
                            Release.chart_version,
                            Release.current_revision,
                            Release.status,
                            Release.updated_at,
                            Release.app_state,
                            Release.app_reason,
                            Release.app_message,
                            Release.app_since,
                            Release.app_observed_at,
                            Release.app_root_cause,
                        ).order_by(Release.cluster, Release.namespace, Release.name)
                    )
                ).all()
                counts = (
                    await connection.execute(
                        select(Resource.release_id, Resource.state, func.count()).group_by(
                            Resource.release_id, Resource.state
                        )
                    )
                ).all()
                troubled = (
                    await connection.execute(
                        select(
                            Resource.release_id,
                            Resource.api_group,
                            Resource.kind,
                            Resource.namespace,
                            Resource.name,
                            Resource.state,
                            Resource.reason,
                            Resource.message,
                            Resource.since,
                            Resource.root_cause,
                        )
                        .where(Resource.state != ready)
                        .order_by(Resource.id)
                    )
                ).all()
        except Exception as exc:
            raise describe(exc, self.target) from exc
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
                select(func.max(StatusTransition.id)).scalar_subquery(),
                select(func.max(OperationLog.id)).scalar_subquery(),
                select(func.max(Event.id)).scalar_subquery(),
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

        async def read() -> list[Sequence[Any]]:
            async with self._read.connect() as connection:
                return [(await connection.execute(query)).all() for query in queries]

        try:
            found = await retry_busy(read)
        except StoreError:
            raise
        except Exception as exc:
            raise describe(exc, self.target) from exc
        return _feed_transitions(found[0]), _feed_steps(found[1]), _feed_events(found[2])

    async def ping(self) -> None:
        """Raise StoreError unless the database answers a trivial query."""
        await self._rows(select(1))


def _transitions_query(after: int, limit: int, among: Sequence[int] | None) -> Any:
    query: Any = (
        select(
            StatusTransition.id,
            StatusTransition.api_group,
            StatusTransition.kind,
            StatusTransition.namespace,
            StatusTransition.name,
            StatusTransition.from_state,
            StatusTransition.to_state,
            StatusTransition.reason,
            StatusTransition.message,
            StatusTransition.at,
            StatusTransition.root_cause,
            Release.cluster,
            Release.namespace.label("release_namespace"),
            Release.name.label("release_name"),
        )
        .join(Release, Release.id == StatusTransition.release_id)
        .where(StatusTransition.id > after)
        .order_by(StatusTransition.id)
        .limit(limit)
    )
    if among is not None:
        query = query.where(StatusTransition.id.in_(among))
    return query


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
    query: Any = (
        select(
            OperationLog.id,
            OperationLog.revision,
            OperationLog.seq,
            OperationLog.at,
            OperationLog.level,
            OperationLog.step,
            OperationLog.message,
            OperationLog.details,
            Release.cluster,
            Release.namespace,
            Release.name,
        )
        .join(Release, Release.id == OperationLog.release_id)
        .where(OperationLog.id > after)
        .order_by(OperationLog.id)
        .limit(limit)
    )
    if among is not None:
        query = query.where(OperationLog.id.in_(among))
    return query


def _feed_steps(rows: Sequence[Any]) -> list[FeedStep]:
    return [
        FeedStep(row.id, log_entry(row, ReleaseKey(row.namespace, row.name, row.cluster)))
        for row in rows
    ]


def _events_query(after: int, limit: int, among: Sequence[int] | None) -> Any:
    query: Any = (
        select(
            Event,
            Release.cluster.label("release_cluster"),
            Release.namespace.label("release_namespace"),
            Release.name.label("release_name"),
        )
        .join(Release, Release.id == Event.release_id)
        .where(Event.id > after)
        .order_by(Event.id)
        .limit(limit)
    )
    if among is not None:
        query = query.where(Event.id.in_(among))
    return query


def _feed_events(rows: Sequence[Any]) -> list[FeedEvent]:
    return [
        FeedEvent(
            row.id,
            ReleaseKey(row.release_namespace, row.release_name, row.release_cluster),
            event_record(row),
        )
        for row in rows
    ]
