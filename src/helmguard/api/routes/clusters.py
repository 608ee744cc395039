"""The clusters the store knows: their releases by state, who syncs them, whether they
answer; registering and forgetting them (the rules of `helmguard cluster add|remove`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from helmguard.api.context import ApiContext, Context, FullView, read_access, write_access
from helmguard.api.schemas import state_severity
from helmguard.clusters import (
    AlreadyRegistered,
    BadRegistration,
    NotRegistered,
    ReleasesHeld,
    checked_cluster,
    checked_secret_cluster,
    register,
    unregister,
)
from helmguard.store.clusters_read import ClusterSummary
from helmguard.sync.supervisor import UNREACHABLE

if TYPE_CHECKING:
    from helmguard.kube.client import Kube
    from helmguard.sync.replica import Leaderless

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


class NoLeaderItem(BaseModel):
    since: datetime = Field(description="Since when this replica has not reached the cluster.")
    message: str = Field(description="Why: what reaching its API server (its Lease) answered.")


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
    no_leader: NoLeaderItem | None = Field(
        None,
        description="serve --leader-elect: no replica leads (syncs) the cluster: this replica "
        "cannot reach it and no sync of it is alive in the store; null otherwise.",
    )


def cluster_item(
    c: ClusterSummary, now: datetime, *, full: bool, leaderless: Leaderless | None = None
) -> ClusterItem:
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
        no_leader=None
        if leaderless is None
        else NoLeaderItem(since=leaderless.since, message=leaderless.message),
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
    leaderless = context.cluster_leaderless() if context.cluster_leaderless is not None else {}
    now = datetime.now(UTC)
    return [cluster_item(c, now, full=full, leaderless=leaderless.get(c.name)) for c in summaries]


class ClusterIn(BaseModel):
    name: str = Field(description="The cluster's name: a DNS-1123 label.")
    kubeconfig: str | None = Field(
        None,
        description="The path of a kubeconfig file on the server's filesystem (stored made "
        "absolute; its credentials stay in it). Exactly one of kubeconfig and secret.",
    )
    secret: str | None = Field(
        None,
        description="NAMESPACE/NAME of a Secret in the cluster the server runs in holding "
        "the connection (a kubeconfig under `kubeconfig`, or `server`, `token`, `ca.crt`); "
        "only the reference is stored, serve reads and watches the Secret.",
    )
    context: str | None = Field(
        None, description="The kubeconfig context (default: the kubeconfig's current-context)."
    )


def _home(context: ApiContext) -> Callable[[], Awaitable[Kube]]:
    """How to reach the cluster the server runs in: its default cluster, else the
    kubeconfig context in use (or in-cluster)."""
    if context.kube_factory is not None:
        return context.kube_factory
    from helmguard.kube.client import connect

    return lambda: connect(None, None)


def _writable(context: ApiContext) -> None:
    if not context.writable:
        raise HTTPException(
            403,
            "cluster registrations are not accepted on this server (it was started "
            "--read-only, or with a read-only database)",
        )


@router.post(
    "/api/clusters",
    status_code=201,
    response_model=ClusterItem,
    dependencies=[write_access],
    responses={
        403: {"description": "read-only server"},
        409: {"description": "the name is registered already"},
        422: {"description": "a bad name, kubeconfig or context; nothing written"},
    },
)
async def add_cluster(context: Context, full: FullView, body: ClusterIn) -> ClusterItem:
    """Register a cluster, as `helmguard cluster add` does: the kubeconfig or Secret is read
    now (the context must be defined in it); the cluster need not answer. A `serve --all-clusters`
    on this store starts syncing it within seconds."""
    _writable(context)
    if (body.kubeconfig is None) == (body.secret is None):
        raise HTTPException(422, "give exactly one of kubeconfig (a file) and secret (a Secret)")
    try:
        if body.kubeconfig is not None:
            record, _ = await asyncio.to_thread(
                checked_cluster, body.name, body.kubeconfig, body.context
            )
        else:
            assert body.secret is not None
            record, _ = await checked_secret_cluster(
                body.name, body.secret, body.context, _home(context)
            )
        await register(context.store, record)
    except BadRegistration as exc:
        raise HTTPException(422, str(exc)) from None
    except AlreadyRegistered as exc:
        raise HTTPException(409, str(exc)) from None
    summaries = await context.store.cluster_summaries(UNREACHABLE_REASONS)
    [added] = [c for c in summaries if c.name == record.name]
    return cluster_item(added, datetime.now(UTC), full=full)


@router.delete(
    "/api/clusters/{name}",
    status_code=204,
    dependencies=[write_access],
    responses={
        403: {"description": "read-only server"},
        404: {"description": "not registered"},
        409: {"description": "the store holds releases of it (without forget_releases)"},
    },
)
async def remove_cluster(context: Context, name: str, forget_releases: bool = False) -> Response:
    """Forget a registered cluster, as `helmguard cluster remove` does: refused while the
    store holds releases of it, unless `forget_releases` (their stored history is deleted,
    not the releases). A `serve --all-clusters` on this store stops syncing it."""
    _writable(context)
    try:
        await unregister(context.store, name, forget_releases=forget_releases)
    except NotRegistered as exc:
        raise HTTPException(404, str(exc)) from None
    except ReleasesHeld as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)
