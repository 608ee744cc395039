"""Reads the HTTP surface needs that the Store does not offer: many releases at once, rows by id.

The Store answers per-release questions; the release list needs every release's worst
resource in one round trip, and the live stream needs "rows after id N" so it works
whether the writer is this process or another one. Both read the store's own tables
through a separate read-only engine on the same database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import LogEntry, ReleaseKey, ReleaseRecord, Store, TransitionRecord
from helmguard.store.db import create_engine, describe, retry_busy
from helmguard.store.models import OperationLog, Release, Resource, StatusTransition
from helmguard.store.rows import log_entry, ref_from_json, ref_of, release_record, transition_record


@dataclass(frozen=True)
class Culprit:
    """The worst resource of a release: what the list's one-liner says."""

    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime
    root_cause: ObjectRef | None


@dataclass(frozen=True)
class ReleaseSummary:
    """One row of the release list: the release (with its app status), its resource counts
    by state, and its worst resource."""

    release: ReleaseRecord
    counts: tuple[tuple[str, int], ...]
    culprit: Culprit | None


@dataclass(frozen=True)
class FeedTransition:
    """A status transition as the live stream publishes it: its row id and the transition."""

    id: int
    transition: TransitionRecord


@dataclass(frozen=True)
class FeedStep:
    """An operation-log row as the live stream publishes it: its row id and the entry."""

    id: int
    entry: LogEntry


def _severity(state: str) -> int:
    try:
        return State(state).severity
    except ValueError:
        return State.UNKNOWN.severity


class Reader:
    """Read-only queries on the store's database; `close()` releases its connections."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._engine: AsyncEngine = create_engine(store.target, writer=False)
        self._summaries: tuple[tuple[Any, ...], list[ReleaseSummary]] | None = None

    async def close(self) -> None:
        await self._engine.dispose()

    async def _rows(self, query: Any) -> list[Any]:
        async def read() -> list[Any]:
            async with self._engine.connect() as connection:
                return list((await connection.execute(query)).all())

        try:
            return await retry_busy(read)
        except Exception as exc:
            raise describe(exc, self._store.target) from exc

    async def release_summaries(self) -> list[ReleaseSummary]:
        """Every release with its app status, its resource counts by state and its worst
        resource (one connection).

        The answer is reused while nothing it depends on changed: every change of a state,
        reason, message or root cause (an object's or an app's) adds a transition, release
        rows carry updated_at, and
        added or removed resources change the count.
        """
        try:
            async with self._engine.connect() as connection:
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
                        .where(Resource.state != State.READY.value)
                        .order_by(Resource.id)
                    )
                ).all()
        except Exception as exc:
            raise describe(exc, self._store.target) from exc
        tally: dict[int, list[tuple[str, int]]] = {}
        for release_id, state, count in counts:
            tally.setdefault(release_id, []).append((state, int(count)))
        worst: dict[int, Any] = {}
        for row in troubled:
            best = worst.get(row.release_id)
            # Ties go to the earlier row (a stable choice across refreshes).
            if best is None or _severity(row.state) > _severity(best.state):
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
            states = sorted(tally.get(r.id, []), key=lambda sc: -_severity(sc[0]))
            out.append(ReleaseSummary(record, tuple(states), culprit))
        self._summaries = (key, out)
        return out

    async def last_ids(self) -> tuple[int, int]:
        """The highest transition id and operation-log id stored so far (0 when empty)."""
        rows = await self._rows(
            select(
                select(func.max(StatusTransition.id)).scalar_subquery(),
                select(func.max(OperationLog.id)).scalar_subquery(),
            )
        )
        first, second = rows[0]
        return int(first or 0), int(second or 0)

    async def transitions_after(
        self, after: int, limit: int = 1000, *, among: Sequence[int] | None = None
    ) -> list[FeedTransition]:
        """Transitions with an id above `after` (and in `among` if given), in id order."""
        query = (
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
        return [
            FeedTransition(
                row.id,
                transition_record(
                    row, ReleaseKey(row.release_namespace, row.release_name, row.cluster)
                ),
            )
            for row in await self._rows(query)
        ]

    async def steps_after(
        self, after: int, limit: int = 1000, *, among: Sequence[int] | None = None
    ) -> list[FeedStep]:
        """Operation-log rows with an id above `after` (and in `among` if given), in id order."""
        query = (
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
        return [
            FeedStep(row.id, log_entry(row, ReleaseKey(row.namespace, row.name, row.cluster)))
            for row in await self._rows(query)
        ]

    async def ping(self) -> None:
        """Raise StoreError unless the database answers a trivial query."""
        await self._rows(select(1))
