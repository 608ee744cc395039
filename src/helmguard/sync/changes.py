"""The sync's change coalescing, pure: what to write for a status after the last write.

A transition needs a different state, reason, message or root cause (`same_state`); a
new resourceVersion alone is written without one, keeping the stored `since`
(`to_write`), and nothing is written when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from helmguard.manifest import ObjectRef
from helmguard.status import ResourceStatus


@dataclass(frozen=True)
class Written:
    """A status as last written to the store (what the next change is compared with)."""

    state: str
    reason: str
    message: str
    root_cause: ObjectRef | None
    resource_version: str
    since: datetime


def to_write(previous: Written | None, status: ResourceStatus, now: datetime) -> Written | None:
    """What to store for `status` after `previous` was written; None when nothing changed.

    An unchanged status keeps the stored `since`; a change dated before the last stored
    change (an older condition) is dated `now`, when it was observed.
    """
    since = status.since or now
    same = previous is not None and (
        previous.state,
        previous.reason,
        previous.message,
        previous.root_cause,
    ) == (status.state.value, status.reason, status.message, status.root_cause)
    if same and previous is not None:
        if previous.resource_version == (status.resource_version or ""):
            return None
        since = previous.since
    elif previous is not None and since < previous.since:
        since = now
    return Written(
        status.state.value,
        status.reason,
        status.message,
        status.root_cause,
        status.resource_version or "",
        since,
    )


def same_state(a: ResourceStatus, b: ResourceStatus) -> bool:
    """Whether two statuses are one state for history (a transition needs a difference)."""
    return (a.state, a.reason, a.message, a.root_cause) == (
        b.state,
        b.reason,
        b.message,
        b.root_cause,
    )
