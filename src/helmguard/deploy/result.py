"""What an action did, in words and as data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from helmguard.deploy.oplog import LogRecord
from helmguard.deploy.release import Applied
from helmguard.manifest import ObjectRef

if TYPE_CHECKING:
    from helmguard.preflight.report import Report


class Outcome(StrEnum):
    """How an action ended (Result.outcome; the store's revision outcome)."""

    DEPLOYED = "deployed"
    FAILED = "failed"
    REFUSED = "refused"  # preflight found errors: nothing applied
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled-back"  # failed, and --atomic restored the previous revision
    UNINSTALLED = "uninstalled"
    PASSED = "passed"  # release_test
    CLEAN = "clean"  # settle found nothing unfinished
    DRY_RUN = "dry-run"  # --dry-run: what the operation would do; nothing was changed


_OK = frozenset({Outcome.DEPLOYED, Outcome.UNINSTALLED, Outcome.PASSED, Outcome.DRY_RUN})


@dataclass(frozen=True)
class Result:
    """What an operation did, in words and as data."""

    operation: str
    release: str
    namespace: str
    revision: int
    outcome: str  # an Outcome
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
    notes: str = ""  # the chart's rendered NOTES (deploy), printed as helm prints them

    @property
    def ok(self) -> bool:
        return self.outcome in _OK
