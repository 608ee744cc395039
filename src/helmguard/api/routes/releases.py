"""Reads of one release: list, detail, revisions, operation log, events, history, graph."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from helmguard.api.context import (
    Cluster,
    ClusterFilter,
    Context,
    FullView,
    read_access,
    recorded_release,
)
from helmguard.api.graph import Graph, build_graph
from helmguard.api.schemas import (
    EventItem,
    LogItem,
    Ref,
    ReleaseDetail,
    ReleaseItem,
    RevisionDetail,
    RevisionItem,
    TransitionItem,
    event_item,
    log_item,
    release_detail,
    release_item,
    revision_detail,
    revision_item,
    state_severity,
    transition_item,
)
from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import ReleaseKey


class GraphNodeItem(BaseModel):
    id: str = Field(description="The node's key as text; edges refer to it.")
    ref: Ref
    state: str
    reason: str
    message: str
    since: datetime | None
    wave: int | None = Field(description="Column in apply order; null outside the release.")
    in_release: bool
    labels: dict[str, str]


class GraphEdgeItem(BaseModel):
    source: str
    target: str
    path: str = Field(description="The field that makes the reference.")
    optional: bool
    broken: bool
    message: str = Field(description="For a broken edge: the cluster's words.")


class GraphOut(BaseModel):
    revision: int | None
    waves: list[list[str]]
    nodes: list[GraphNodeItem]
    edges: list[GraphEdgeItem]


def graph_out(g: Graph) -> GraphOut:
    return GraphOut(
        revision=g.revision,
        waves=[[str(r) for r in wave] for wave in g.waves],
        nodes=[
            GraphNodeItem(
                id=str(n.ref),
                ref=Ref.of(n.ref),
                state=n.state,
                reason=n.reason,
                message=n.message,
                since=n.since,
                wave=n.wave,
                in_release=n.in_release,
                labels={str(k): str(v) for k, v in n.labels.items()},
            )
            for n in g.nodes
        ],
        edges=[
            GraphEdgeItem(
                source=str(e.source),
                target=str(e.target),
                path=e.path,
                optional=e.optional,
                broken=e.broken,
                message=e.message,
            )
            for e in g.edges
        ],
    )


router = APIRouter(tags=["releases"], dependencies=[read_access])

NOT_RECORDED: dict[int | str, dict[str, Any]] = {404: {"description": "release not recorded"}}
Limit = Annotated[int, Query(ge=1, le=1000)]
Selector = Annotated[str | None, Query(max_length=253)]


def _object(
    group: str | None, kind: str | None, namespace: str | None, name: str | None
) -> ObjectRef | None:
    """The one object asked about (kind and object_name given), else None: all of them."""
    if kind and name:
        return ObjectRef(group or "", kind, namespace or "", name)
    return None


@router.get("/api/releases", response_model=list[ReleaseItem])
async def list_releases(context: Context, cluster: ClusterFilter = None) -> list[ReleaseItem]:
    """Every release (of one cluster with `cluster`; an unknown cluster has none) with its
    worst state and the root cause in one line."""
    return [
        release_item(s)
        for s in await context.store.release_summaries(state_severity, State.READY.value)
        if cluster is None or s.release.key.cluster == cluster
    ]


@router.get(
    "/api/releases/{namespace}/{name}", response_model=ReleaseDetail, responses=NOT_RECORDED
)
async def get_release(
    context: Context, namespace: str, name: str, cluster: Cluster = ""
) -> ReleaseDetail:
    """Components (with pods) and other resources: state, reason, since, root cause."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    resources = await store.list_resources(release.key)
    children = await store.list_resources(release.key, children=True)
    return release_detail(release, resources, children)


@router.get(
    "/api/releases/{namespace}/{name}/revisions",
    response_model=list[RevisionItem],
    responses=NOT_RECORDED,
)
async def list_revisions(
    context: Context, full: FullView, namespace: str, name: str, cluster: Cluster = ""
) -> list[RevisionItem]:
    """The release's revisions, oldest first (no values digest for anonymous readers)."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    return [revision_item(r, full=full) for r in await store.list_revisions(release.key)]


@router.get(
    "/api/releases/{namespace}/{name}/revisions/{number}",
    response_model=RevisionDetail,
    responses={404: {"description": "release or revision not recorded"}},
)
async def get_revision(
    context: Context, full: FullView, namespace: str, name: str, number: int, cluster: Cluster = ""
) -> RevisionDetail:
    """One revision with its stored plan (Secret data redacted by the store; no plan and
    no values digest for anonymous readers)."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    for r in await store.list_revisions(release.key):
        if r.number == number:
            return revision_detail(r, full=full)
    raise HTTPException(404, f"release {release.key} has no revision {number}")


@router.get(
    "/api/releases/{namespace}/{name}/log", response_model=list[LogItem], responses=NOT_RECORDED
)
async def operation_log(
    context: Context,
    full: FullView,
    namespace: str,
    name: str,
    cluster: Cluster = "",
    revision: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
) -> list[LogItem]:
    """The operation log (one revision's when given), in the order it was written.

    Anonymous readers get the steps without their details."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    return [log_item(e, full=full) for e in await store.operation_log(release.key, revision)]


@router.get(
    "/api/releases/{namespace}/{name}/events",
    response_model=list[EventItem],
    responses=NOT_RECORDED,
)
async def events(
    context: Context,
    namespace: str,
    name: str,
    cluster: Cluster = "",
    limit: Limit = 100,
    group: Selector = None,
    kind: Selector = None,
    object_namespace: Selector = None,
    object_name: Selector = None,
) -> list[EventItem]:
    """Kubernetes Events about the release's objects (of one object when kind and
    object_name are given), most recently seen first."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    ref = _object(group, kind, object_namespace, object_name)
    return [event_item(e) for e in await store.events(release.key, ref=ref, limit=limit)]


@router.get(
    "/api/releases/{namespace}/{name}/history",
    response_model=list[TransitionItem],
    responses=NOT_RECORDED,
)
async def history(
    context: Context,
    namespace: str,
    name: str,
    cluster: Cluster = "",
    limit: Limit = 100,
    group: Selector = None,
    kind: Selector = None,
    object_namespace: Selector = None,
    object_name: Selector = None,
) -> list[TransitionItem]:
    """Status transitions, newest first; of one object when kind and object_name are given."""
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    ref = _object(group, kind, object_namespace, object_name)
    rows = await store.history(release.key, ref=ref, limit=limit)
    return [transition_item(t) for t in rows]


@router.get(
    "/api/releases/{namespace}/{name}/graph", response_model=GraphOut, responses=NOT_RECORDED
)
async def graph(context: Context, namespace: str, name: str, cluster: Cluster = "") -> GraphOut:
    """References between the release's objects (and to the cluster), each node's status.

    Built from the latest revision's plan; a broken edge carries the cluster's message.
    """
    store = context.store
    release = await recorded_release(store, ReleaseKey(namespace, name, cluster))
    revisions = await store.list_revisions(release.key)
    latest = revisions[-1] if revisions else None
    resources = await store.list_resources(release.key)
    built = build_graph(
        latest.plan if latest else None, resources, revision=latest.number if latest else None
    )
    return graph_out(built)
