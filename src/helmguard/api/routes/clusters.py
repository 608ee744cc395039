"""The clusters the store knows: their releases by state, who syncs them, whether they answer."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from helmguard.api.context import Context, FullView, read_access
from helmguard.api.schemas import state_severity
from helmguard.store.clusters_read import ClusterSummary
from helmguard.sync.supervisor import UNREACHABLE

# The app reasons that mean the sync cannot see the cluster: the supervisor's while it
# cannot connect, the watch's (sync.engine) while a running sync's watches are down.
WATCH_DOWN = "WatchDisconnected"
UNREACHABLE_REASONS = (UNREACHABLE, WATCH_DOWN)
# How the page and the API spell the default cluster ("" in the store and in `?cluster=`);
# not a DNS-1123 label, so no registered cluster can be called that.
DEFAULT_LABEL = "(default)"


class SyncItem(BaseModel):
    """The sync that holds the cluster's lease in the store."""

    alive: bool = Field(
        description="false: its heartbeat is older than the lease, or its process is gone; "
        "the cluster's stored statuses are not kept up to date."
    )
    heartbeat_at: datetime
    heartbeat_age_seconds: float
    started_at: datetime
    host: str | None = Field(description="null for anonymous readers.")
    pid: int | None = Field(description="null for anonymous readers.")


class UnreachableItem(BaseModel):
    reason: str = Field(description=f"{UNREACHABLE} (cannot connect) or {WATCH_DOWN}.")
    message: str = Field(description="What the sync could not reach, in its words.")
    since: datetime | None
    releases: int = Field(description="How many of the cluster's releases are stored Unknown.")


class ClusterItem(BaseModel):
    name: str = Field(description='The name `?cluster=` takes; "" is the default cluster.')
    label: str = Field(description=f'The name to show: {DEFAULT_LABEL} for "".')
    releases: int
    counts: dict[str, int] = Field(
        description="Releases by app state, worst first; Unknown includes those not synced yet."
    )
    reachable: bool = Field(description="false while the sync cannot reach the cluster.")
    unreachable: UnreachableItem | None
    sync: SyncItem | None = Field(description="null: no sync holds this cluster's lease.")
    registered: bool = Field(description='Added with `helmguard cluster add` (false for "").')


def cluster_item(c: ClusterSummary, now: datetime, *, full: bool) -> ClusterItem:
    counts = dict(c.states)
    if c.unsynced:
        counts["Unknown"] = counts.get("Unknown", 0) + c.unsynced
    sync = None
    if c.sync is not None:
        sync = SyncItem(
            alive=c.sync_alive,
            heartbeat_at=c.sync.heartbeat_at,
            heartbeat_age_seconds=round(max(0.0, (now - c.sync.heartbeat_at).total_seconds()), 1),
            started_at=c.sync.started_at,
            host=c.sync.host if full else None,
            pid=c.sync.pid if full else None,
        )
    down = c.unreachable
    return ClusterItem(
        name=c.name,
        label=c.name or DEFAULT_LABEL,
        releases=c.releases,
        counts=dict(sorted(counts.items(), key=lambda sc: -state_severity(sc[0]))),
        reachable=down is None,
        unreachable=None
        if down is None
        else UnreachableItem(
            reason=down.reason, message=down.message, since=down.since, releases=down.releases
        ),
        sync=sync,
        registered=c.registered,
    )


router = APIRouter(tags=["clusters"], dependencies=[read_access])


@router.get("/api/clusters", response_model=list[ClusterItem])
async def list_clusters(context: Context, full: FullView) -> list[ClusterItem]:
    """Every cluster with a recorded release, a sync lease or a registration: releases by
    state, the sync that holds it and its heartbeat age, reachable or not (with the reason
    and since when).

    Anonymous readers get no host or process id of the sync.
    """
    summaries = await context.store.cluster_summaries(UNREACHABLE_REASONS)
    now = datetime.now(UTC)
    return [cluster_item(c, now, full=full) for c in summaries]
