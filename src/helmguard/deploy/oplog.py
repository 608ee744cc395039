"""The operation log: every step of a deploy as a structured record, stored and streamed.

`OperationLog.emit` is synchronous (callers never wait on printing) and hands each
record to the listeners at once (the CLI's live display, a JSON stream); once a revision
exists, the records of each event-loop turn are queued to the store together, so a
running `serve` streams a CLI deploy's steps as they happen. `sync` queues what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helmguard.store import LogStep, ReleaseKey, Store


class Step(StrEnum):
    """The operation log's step names (stored, streamed, and matched by the CLI's display)."""

    ATOMIC_DONE = "atomic.done"
    ATOMIC_START = "atomic.start"
    CLEANUP = "cleanup"
    GATE_PASSED = "gate.passed"
    HISTORY_FORGOTTEN = "history.forgotten"
    HOOK_APPLIED = "hook.applied"
    HOOK_DELETED = "hook.deleted"
    HOOK_FAILED = "hook.failed"
    HOOK_SUCCEEDED = "hook.succeeded"
    INTERRUPTED = "interrupted"
    LOCK_ACQUIRED = "lock.acquired"
    NAMESPACE_CREATED = "namespace.created"
    OBJECT_APPLIED = "object.applied"
    OBJECT_DELETED = "object.deleted"
    OBJECT_FAILED = "object.failed"
    OBJECT_SKIPPED = "object.skipped"
    PLAN = "plan"
    PLAN_CYCLE = "plan.cycle"
    PREFLIGHT_FINDING = "preflight.finding"
    PREFLIGHT_PASSED = "preflight.passed"
    PREFLIGHT_SKIPPED = "preflight.skipped"
    PRUNE = "prune"
    RECORD_FAILED = "record.failed"
    RECORD_MIGRATED = "record.migrated"
    RECORD_PRUNED = "record.pruned"
    REVISION_STALE = "revision.stale"
    ROLLBACK_TARGET = "rollback.target"
    VERDICT = "verdict"
    WAIT_LOAD_BALANCER = "wait.load-balancer"
    WAIT_READY = "wait.ready"
    WAIT_START = "wait.start"
    WAIT_TRANSITION = "wait.transition"
    WAVE_APPLIED = "wave.applied"


@dataclass(frozen=True)
class LogRecord:
    """One step: when, how serious, which step (e.g. `wave.applied`), what, and details."""

    at: datetime
    level: str
    step: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "level": self.level,
            "step": self.step,
            "message": self.message,
            "details": dict(self.details),
        }


Listener = Callable[[LogRecord], None]


class OperationLog:
    """Collects records; forwards them to listeners; stores them once a revision exists."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self.records: list[LogRecord] = []
        self._listeners = list(listeners)
        self._store: Store | None = None
        self._key: ReleaseKey | None = None
        self._revision = 0
        self._stored = 0
        self._posting = False

    def emit(self, step: Step, message: str, *, level: str = "info", **details: Any) -> LogRecord:
        record = LogRecord(datetime.now(UTC), level, step, message, details)
        self.records.append(record)
        for listener in self._listeners:
            listener(record)
        if self._store is not None and not self._posting:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return record  # no loop: the next `sync` stores it
            self._posting = True
            loop.call_soon(self._post)
        return record

    def _pending(self) -> list[LogStep]:
        from helmguard.store import LogStep

        pending, self._stored = self.records[self._stored :], len(self.records)
        return [LogStep(r.step, r.message, r.level, r.details, r.at) for r in pending]

    def _post(self) -> None:
        from helmguard.store import StoreError

        self._posting = False
        if self._store is None or self._key is None:
            return
        # Once the store is closed, later steps are not stored (the revision is finished).
        with contextlib.suppress(StoreError):
            self._store.post_operation_logs(self._key, self._revision, self._pending())

    def bind(self, store: Store | None, key: ReleaseKey, revision: int) -> None:
        """From now on, `sync` stores records under this release revision."""
        self._store, self._key, self._revision = store, key, revision

    async def sync(self) -> None:
        """Queue every record not yet stored (the store's writer batches them)."""
        if self._store is None or self._key is None:
            return
        await self._store.add_operation_logs(self._key, self._revision, self._pending(), wait=False)
