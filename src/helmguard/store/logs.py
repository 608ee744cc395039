"""Events, operation logs and the retention that prunes history."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from helmguard.store.core import StoreCore, key_columns, release_id_of, to_json, utc_now
from helmguard.store.models import Event, OperationLog, StatusTransition
from helmguard.store.records import EventRecord, LogStep, PruneResult, ReleaseKey

_LAST_LOG_SEQ = select(func.max(OperationLog.c.seq)).where(
    OperationLog.c.release_id == bindparam("k_release"),
    OperationLog.c.revision == bindparam("k_revision"),
)
_INSERT_LOG = insert(OperationLog)


def _operation_logs_op(
    release: ReleaseKey, revision: int, steps: Sequence[LogStep]
) -> Callable[[Connection], None]:
    rows = [
        {
            "revision": revision,
            "at": s.at or utc_now(),
            "level": s.level,
            "step": s.step,
            "message": s.message,
            "details": to_json(dict(s.details)),
        }
        for s in steps
    ]

    def op(connection: Connection) -> None:
        release_id = release_id_of(connection, release)
        last = connection.execute(
            _LAST_LOG_SEQ, {"k_release": release_id, "k_revision": revision}
        ).scalar_one_or_none()
        for seq, row in enumerate(rows, start=(last or 0) + 1):
            row.update(release_id=release_id, seq=seq)
        connection.execute(_INSERT_LOG, rows)

    return op


class LogWrites(StoreCore):
    """Writes of Events and operation-log steps; history pruning."""

    async def add_events(self, release: ReleaseKey, events: Sequence[EventRecord]) -> int:
        """Store Events correlated to a release's objects; return how many were new or grew.

        An Event is stored once per uid; seeing it again with a higher count updates its
        count, message and last_seen; the same or a lower count (a re-list) changes nothing.
        """
        batch = list(events)

        def op(connection: Connection) -> int:
            release_id = release_id_of(connection, release)
            uids = sorted({e.uid for e in batch})
            known: dict[str, tuple[int, int]] = {}
            for start in range(0, len(uids), 500):
                rows = connection.execute(
                    select(Event.c.uid, Event.c.id, Event.c.count).where(
                        Event.c.uid.in_(uids[start : start + 500])
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
                            **key_columns(e.ref),
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
                        .where(Event.c.id == seen[0])
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
            cutoff = utc_now() - timedelta(days=self.retention.max_age_days)

        def op(connection: Connection) -> PruneResult:
            transitions = events = logs = 0
            if cutoff is not None:
                transitions = (
                    connection.execute(
                        delete(StatusTransition).where(StatusTransition.c.at < cutoff)
                    )
                ).rowcount
                events = (
                    connection.execute(delete(Event).where(Event.c.last_seen < cutoff))
                ).rowcount
                logs = (
                    connection.execute(delete(OperationLog).where(OperationLog.c.at < cutoff))
                ).rowcount
            if cap is not None:
                position = (
                    func.row_number()
                    .over(
                        partition_by=(
                            StatusTransition.c.release_id,
                            StatusTransition.c.api_group,
                            StatusTransition.c.kind,
                            StatusTransition.c.namespace,
                            StatusTransition.c.name,
                        ),
                        order_by=(StatusTransition.c.at.desc(), StatusTransition.c.id.desc()),
                    )
                    .label("position")
                )
                ranked = select(StatusTransition.c.id, position).subquery()
                excess = select(ranked.c.id).where(ranked.c.position > cap)
                transitions += (
                    connection.execute(
                        delete(StatusTransition).where(StatusTransition.c.id.in_(excess))
                    )
                ).rowcount
            return PruneResult(transitions=transitions, events=events, operation_log=logs)

        result = await self._require_writer().submit(op)
        assert isinstance(result, PruneResult)
        return result
