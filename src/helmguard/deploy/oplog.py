"""The operation log: every step of a deploy as a structured record, stored and streamed.

`OperationLog.emit` is synchronous (callers never wait on printing) and hands each
record to the listeners at once (the CLI's live display, a JSON stream). Once bound to a
revision, records are stored as they happen: at most FLUSH_SECONDS after `emit` they are
queued to the store's writer, so the live stream follows an operation step by step and a
crash loses no more than that; `sync` queues what is left at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helmguard.store import ReleaseKey, Store


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
FLUSH_SECONDS = 0.1


class OperationLog:
    """Collects records; forwards them to listeners; stores them once a revision exists."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self.records: list[LogRecord] = []
        self._listeners = list(listeners)
        self._store: Store | None = None
        self._key: ReleaseKey | None = None
        self._revision = 0
        self._stored = 0
        self._flush: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._syncing = asyncio.Lock()

    def emit(self, step: str, message: str, *, level: str = "info", **details: Any) -> LogRecord:
        record = LogRecord(datetime.now(UTC), level, step, message, details)
        self.records.append(record)
        for listener in self._listeners:
            listener(record)
        if self._store is not None and self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush_now)
        return record

    def _flush_now(self) -> None:
        self._flush = None
        task = asyncio.ensure_future(self.sync())
        self._writes.add(task)
        # A failed early write is not lost: the records stay unstored and the final sync
        # (which the operation awaits) writes them or raises.
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the final sync reports a store that fails

    def bind(self, store: Store | None, key: ReleaseKey, revision: int) -> None:
        """From now on, `sync` stores records under this release revision."""
        self._store, self._key, self._revision = store, key, revision

    async def sync(self) -> None:
        """Queue every record not yet stored (the store's writer batches them)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._store is None or self._key is None:
            return
        from helmguard.store import LogStep

        async with self._syncing:  # an early flush and the final sync never store twice
            pending = self.records[self._stored :]
            if not pending:
                return
            steps = [LogStep(r.step, r.message, r.level, r.details, r.at) for r in pending]
            await self._store.add_operation_logs(self._key, self._revision, steps, wait=False)
            self._stored += len(pending)
