"""The operation log: every step of a deploy as a structured record, stored and streamed.

`OperationLog.emit` is synchronous (callers never wait on printing) and hands each
record to the listeners at once (the CLI's live display, a JSON stream); `sync` writes
the records not yet stored to the revision's log in the store.
"""

from __future__ import annotations

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


class OperationLog:
    """Collects records; forwards them to listeners; stores them once a revision exists."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self.records: list[LogRecord] = []
        self._listeners = list(listeners)
        self._store: Store | None = None
        self._key: ReleaseKey | None = None
        self._revision = 0
        self._stored = 0

    def emit(self, step: str, message: str, *, level: str = "info", **details: Any) -> LogRecord:
        record = LogRecord(datetime.now(UTC), level, step, message, details)
        self.records.append(record)
        for listener in self._listeners:
            listener(record)
        return record

    def bind(self, store: Store | None, key: ReleaseKey, revision: int) -> None:
        """From now on, `sync` stores records under this release revision."""
        self._store, self._key, self._revision = store, key, revision

    async def sync(self) -> None:
        """Queue every record not yet stored (the store's writer batches them)."""
        if self._store is None or self._key is None:
            return
        from helmguard.store import LogStep

        pending, self._stored = self.records[self._stored :], len(self.records)
        steps = [LogStep(r.step, r.message, r.level, r.details, r.at) for r in pending]
        await self._store.add_operation_logs(self._key, self._revision, steps, wait=False)
