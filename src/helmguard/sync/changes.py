"""The sync's change coalescing, pure: what to write for a status after the last write.

A transition needs a different state, reason, message or root cause (`same_state`); a
new resourceVersion alone is written without one, keeping the stored `since`
(`to_write`), and nothing is written when nothing changed. A large pass is committed in
growing batches of whole releases (`batches`): its first rows are stored while later
ones are still being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from helmguard.manifest import ObjectRef
from helmguard.status import ResourceStatus
from helmguard.store import ReleaseKey

R = TypeVar("R")  # an object's row
A = TypeVar("A")  # an app's row
# One transaction's share of a pass: (release, row, seen) items, and (release, app, seen).
Batch = tuple[list[tuple[ReleaseKey, R, float]], list[tuple[ReleaseKey, A, float]]]


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


def batches(
    rows: Sequence[tuple[ReleaseKey, R, float]],
    apps: Sequence[tuple[ReleaseKey, A, float]],
    size: int,
) -> list[Batch[R, A]]:
    """The rows and app rows of one pass as transactions (one when they fit in `size`
    items): the first of about `size` items, each next one twice as large, so the first
    rows of a large pass are stored soon and the whole takes few commits. Each holds whole
    releases: a release's rows, in their order, and its app row commit together, so no
    reader sees its app before the objects it summarises."""
    if len(rows) + len(apps) <= size:
        return [(list(rows), list(apps))]
    by_release: dict[ReleaseKey, Batch[R, A]] = {}
    for row in rows:
        by_release.setdefault(row[0], ([], []))[0].append(row)
    for app in apps:
        by_release.setdefault(app[0], ([], []))[1].append(app)
    out: list[Batch[R, A]] = []
    for release_rows, release_apps in by_release.values():
        if not out or len(out[-1][0]) + len(out[-1][1]) >= size:
            if out:
                size *= 2
            out.append(([], []))
        out[-1][0].extend(release_rows)
        out[-1][1].extend(release_apps)
    return out
