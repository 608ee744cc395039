"""What an action did, in words and as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from helmguard.deploy.oplog import LogRecord
from helmguard.deploy.release import Applied
from helmguard.manifest import ObjectRef

if TYPE_CHECKING:
    from helmguard.preflight.report import Report


@dataclass(frozen=True)
class Result:
    """What an operation did, in words and as data."""

    operation: str
    release: str
    namespace: str
    revision: int
    outcome: str  # deployed, failed, refused, interrupted, rolled-back, uninstalled, passed
    message: str
    root_cause: ObjectRef | None = None
    applied: tuple[Applied, ...] = ()
    pruned: tuple[ObjectRef, ...] = ()
    deleted: tuple[ObjectRef, ...] = ()
    report: Report | None = None
    rollback: Result | None = None
    log: tuple[LogRecord, ...] = ()
    seconds: float = 0.0
    error_class: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("deployed", "uninstalled", "passed")
