"""Deploy, rollback and uninstall as background operations of the API process.

Each runs `helmguard.deploy`'s action in an asyncio task. Its steps reach the store's
operation log (and so the live stream) through the action itself; the operation's own
record here also keeps the steps from before a revision exists (preflight, refusal) and
the final Result, for GET /api/operations/{id}.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helmguard import metrics
from helmguard.store import ReleaseKey

if TYPE_CHECKING:
    from helmguard.deploy import LogRecord, Result

# Finished operations kept for GET /api/operations/{id}; older ones are forgotten.
_KEEP_FINISHED = 200


@dataclass
class Operation:
    """One running or finished operation: its steps as they happen, then its result."""

    id: str
    kind: str
    release: ReleaseKey
    started_at: datetime
    state: str = "running"  # running, done, error
    steps: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str = ""
    finished_at: datetime | None = None

    def listener(self, record: LogRecord) -> None:
        self.steps.append(record.to_json())


def result_json(result: Result) -> dict[str, Any]:
    """The parts of a deploy Result a client needs (no object bodies)."""
    root = result.root_cause
    return {
        "operation": result.operation,
        "revision": result.revision,
        "outcome": result.outcome,
        "ok": result.ok,
        "message": result.message,
        "root_cause": str(root) if root is not None else None,
        "error_class": result.error_class,
        "seconds": round(result.seconds, 3),
        "applied": len(result.applied),
        "pruned": [str(r) for r in result.pruned],
        "deleted": [str(r) for r in result.deleted],
        "rollback": result_json(result.rollback) if result.rollback is not None else None,
    }


class Operations:
    """Starts actions in background tasks and remembers them by id."""

    def __init__(self) -> None:
        self._ops: dict[str, Operation] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id)

    def start(
        self,
        kind: str,
        release: ReleaseKey,
        action: Callable[[Operation], Awaitable[Result]],
        cleanup: Callable[[], None] | None = None,
    ) -> Operation:
        """Run `action(op)` in the background; the Operation is returned at once."""
        op = Operation(uuid.uuid4().hex, kind, release, datetime.now(UTC))
        self._ops[op.id] = op
        self._forget_old()

        async def run() -> None:
            try:
                result = await action(op)
                op.result = result_json(result)
                op.state = "done"
                metrics.DEPLOY_DURATION.labels(operation=kind, outcome=result.outcome).observe(
                    result.seconds
                )
                if result.error_class:
                    metrics.KUBE_API_ERRORS.labels(error_class=result.error_class).inc()
            except Exception as exc:  # every failure is reported on the operation, not lost
                op.state = "error"
                op.error = str(exc) or type(exc).__name__
                metrics.record_kube_error(exc)
            finally:
                op.finished_at = datetime.now(UTC)
                if cleanup is not None:
                    cleanup()

        task = asyncio.create_task(run(), name=f"helmguard-{kind}-{op.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return op

    def _forget_old(self) -> None:
        finished = [o for o in self._ops.values() if o.state != "running"]
        for op in finished[: max(0, len(finished) - _KEEP_FINISHED)]:
            self._ops.pop(op.id, None)

    async def close(self) -> None:
        """Cancel what still runs (the deploy action releases its lock on cancellation)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def values_file(values: str) -> tuple[str, Callable[[], None]]:
    """Write the values text to a private temporary file for `-f`; return it and a remover."""
    directory = tempfile.TemporaryDirectory(prefix="helmguard-values-")
    path = Path(directory.name) / "values.yaml"
    path.write_text(values, encoding="utf-8")
    return str(path), directory.cleanup
