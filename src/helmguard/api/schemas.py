"""The JSON of releases the API speaks: pydantic models at the HTTP edge, built from the
store's records, shared by the read routes and the live stream. A model only one route
answers with lives in that route's module (`api.routes.*`). One file just past 400 lines:
the release JSON is one contract of the read routes, the stream and the page.

Nothing here decides a status: states come from the store (written by the status rules),
the release's app status too (the sync stores it with the release).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from helmguard.kube.kinds import is_workload
from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import (
    EventRecord,
    FeedEvent,
    FeedStep,
    FeedTransition,
    LogEntry,
    ReleaseKey,
    ReleaseRecord,
    ReleaseSummary,
    ResourceRecord,
    RevisionRecord,
    TransitionRecord,
)


class Ref(BaseModel):
    """An object's key: API group ("" for core), kind, namespace ("" if cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str
    text: str = Field(description="The key as one line, e.g. `ServiceAccount msga-cn/vault-svc`.")

    @classmethod
    def of(cls, ref: ObjectRef) -> Ref:
        return cls(
            group=ref.group, kind=ref.kind, namespace=ref.namespace, name=ref.name, text=str(ref)
        )


def _ref(ref: ObjectRef | None) -> Ref | None:
    return None if ref is None else Ref.of(ref)


class ReleaseId(BaseModel):
    namespace: str
    name: str
    cluster: str = ""

    @classmethod
    def of(cls, key: ReleaseKey) -> ReleaseId:
        return cls(namespace=key.namespace, name=key.name, cluster=key.cluster)


class Status(BaseModel):
    """A state, why, since when, and the object that explains it."""

    state: str
    reason: str
    message: str
    since: datetime | None = None
    root_cause: Ref | None = None


class ReleaseItem(BaseModel):
    """One release in the list: its state and a one-line root cause."""

    release: ReleaseId
    chart: str
    chart_version: str
    current_revision: int | None
    state: str
    summary: str = Field(description="What is wrong, in one line; empty when all is Ready.")
    culprit: Ref | None
    root_cause: Ref | None
    since: datetime | None
    counts: dict[str, int]
    updated_at: datetime | None


class ResourceItem(BaseModel):
    ref: Ref
    state: str
    reason: str
    message: str
    since: datetime
    observed_at: datetime
    resource_version: str
    generation: int | None
    root_cause: Ref | None
    restarts: int | None = Field(
        default=None, description="A pod's container restarts (summed); null for other kinds."
    )

    @classmethod
    def of(cls, r: ResourceRecord) -> ResourceItem:
        return cls(
            ref=Ref.of(r.ref),
            state=r.state,
            reason=r.reason,
            message=r.message,
            since=r.since,
            observed_at=r.observed_at,
            resource_version=r.resource_version,
            generation=r.generation,
            root_cause=_ref(r.root_cause),
            restarts=r.restarts,
        )


class ChildItem(ResourceItem):
    """A workload's child (ReplicaSet, Job, Pod) with its own children, by ownerReferences."""

    children: list[ChildItem]


class Component(ResourceItem):
    """A workload: its children as a tree (Deployment -> ReplicaSets -> pods, CronJob -> Jobs
    -> pods, others -> pods) and, flattened, every pod under it."""

    pods: list[ResourceItem]
    children: list[ChildItem]


class ReleaseDetail(BaseModel):
    release: ReleaseId
    chart: str
    chart_version: str
    current_revision: int | None
    stored_status: str = Field(
        description="What the release's last operation left (deploying, deployed, failed, ...)."
    )
    status: Status = Field(
        description="The app status the sync stored: the worst of its objects' statuses."
    )
    components: list[Component]
    resources: list[ResourceItem]
    updated_at: datetime | None


class RevisionItem(BaseModel):
    number: int
    chart: str
    chart_version: str
    values_digest: str | None = Field(description="null for anonymous readers.")
    outcome: str
    started_at: datetime
    finished_at: datetime | None


class RevisionDetail(RevisionItem):
    plan: dict[str, Any] | None = Field(
        description="The stored plan; Secret data is redacted; null for anonymous readers."
    )


class LogItem(BaseModel):
    revision: int
    seq: int
    at: datetime
    level: str
    step: str
    message: str
    details: dict[str, Any]


class EventItem(BaseModel):
    uid: str
    ref: Ref
    type: str
    reason: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime
    source: str


class TransitionItem(BaseModel):
    ref: Ref
    from_state: str | None
    to_state: str
    reason: str
    message: str
    at: datetime
    root_cause: Ref | None


# A release no sync has observed yet: it is not known to be anything.
NOT_SYNCED = Status(
    state=State.UNKNOWN.value,
    reason="NotSynced",
    message="serve's sync has not stored a status for this release yet",
)


def app_out(release: ReleaseRecord) -> Status:
    """The release's stored app status (NOT_SYNCED while none is stored)."""
    app = release.app
    if app is None:
        return NOT_SYNCED
    return Status(
        state=app.state,
        reason=app.reason,
        message=app.message,
        since=app.since,
        root_cause=_ref(app.root_cause),
    )


# Deployment -> ReplicaSet -> Pod, CronJob -> Job -> Pod: deeper is a loop in bad data.
_MAX_DEPTH = 4


def is_component(ref: ObjectRef) -> bool:
    """Pods are listed under their workload; other workloads are components."""
    return ref.kind != "Pod" and is_workload(ref)


def _subtree(
    owner: ObjectRef, by_owner: Mapping[ObjectRef, Sequence[ResourceRecord]], depth: int = 0
) -> list[ChildItem]:
    if depth > _MAX_DEPTH:
        return []
    return [
        ChildItem(
            **ResourceItem.of(child).model_dump(),
            children=_subtree(child.ref, by_owner, depth + 1),
        )
        for child in by_owner.get(owner, ())
    ]


def _pods_in(tree: Sequence[ChildItem]) -> list[ResourceItem]:
    pods: list[ResourceItem] = []
    for node in tree:
        if node.ref.kind == "Pod" and node.ref.group == "":
            pods.append(ResourceItem(**node.model_dump(exclude={"children"})))
        pods.extend(_pods_in(node.children))
    return pods


def release_detail(
    release: ReleaseRecord,
    resources: Sequence[ResourceRecord],
    children: Sequence[ResourceRecord] = (),
) -> ReleaseDetail:
    """The release view: components with their children and pods, the other resources, the
    app status. `children` are the stored child rows (each names its controlling owner)."""
    by_owner: dict[ObjectRef, list[ResourceRecord]] = {}
    for child in children:
        if child.owner is not None:
            by_owner.setdefault(child.owner, []).append(child)
    components: list[Component] = []
    for w in resources:
        if not is_component(w.ref):
            continue
        tree = _subtree(w.ref, by_owner)
        components.append(
            Component(**ResourceItem.of(w).model_dump(), pods=_pods_in(tree), children=tree)
        )
    others = [ResourceItem.of(r) for r in resources if not is_component(r.ref)]
    return ReleaseDetail(
        release=ReleaseId.of(release.key),
        chart=release.chart,
        chart_version=release.chart_version,
        current_revision=release.current_revision,
        stored_status=release.status,
        status=app_out(release),
        components=components,
        resources=others,
        updated_at=release.updated_at,
    )


def _summary(app: Status) -> str:
    """The app status in one line, led by its root cause when its message does not name it."""
    if app.state == State.READY.value:
        return ""
    line = app.message or app.reason
    cause = app.root_cause
    if cause is not None and not line.startswith(f"{cause.text}:"):
        line = f"{cause.text} → {line}"
    return line


def state_severity(state: str) -> int:
    """How bad a stored state is (State.severity); a name this helmguard does not know
    ranks as Unknown."""
    try:
        return State(state).severity
    except ValueError:
        return State.UNKNOWN.severity


def release_item(s: ReleaseSummary) -> ReleaseItem:
    r = s.release
    c = s.culprit
    app = app_out(r)
    return ReleaseItem(
        release=ReleaseId.of(r.key),
        chart=r.chart,
        chart_version=r.chart_version,
        current_revision=r.current_revision,
        state=app.state,
        summary=_summary(app),
        culprit=_ref(c.ref) if c else None,
        root_cause=app.root_cause,
        since=app.since,
        counts=dict(s.counts),
        updated_at=r.updated_at,
    )


def revision_item(r: RevisionRecord, *, full: bool = True) -> RevisionItem:
    """`full=False` (an anonymous reader): without the values digest, which would let
    values be guessed offline."""
    return RevisionItem(
        number=r.number,
        chart=r.chart,
        chart_version=r.chart_version,
        values_digest=r.values_digest if full else None,
        outcome=r.outcome,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def revision_detail(r: RevisionRecord, *, full: bool = True) -> RevisionDetail:
    """`full=False`: no digest and no plan (it holds ConfigMap data and every object body)."""
    plan = dict(r.plan) if r.plan is not None and full else None
    return RevisionDetail(**revision_item(r, full=full).model_dump(), plan=plan)


def log_item(e: LogEntry, *, full: bool = True) -> LogItem:
    """`full=False`: the step and its message, not its details (object bodies, diffs)."""
    return LogItem(
        revision=e.revision,
        seq=e.seq,
        at=e.at,
        level=e.level,
        step=e.step,
        message=e.message,
        details=dict(e.details) if full else {},
    )


def event_item(e: EventRecord) -> EventItem:
    return EventItem(
        uid=e.uid,
        ref=Ref.of(e.ref),
        type=e.type,
        reason=e.reason,
        message=e.message,
        count=e.count,
        first_seen=e.first_seen,
        last_seen=e.last_seen,
        source=e.source,
    )


def transition_item(t: TransitionRecord) -> TransitionItem:
    return TransitionItem(
        ref=Ref.of(t.ref),
        from_state=t.from_state,
        to_state=t.to_state,
        reason=t.reason,
        message=t.message,
        at=t.at,
        root_cause=_ref(t.root_cause),
    )


def transition_event(feed: FeedTransition) -> Mapping[str, Any]:
    """The `transition` event of the live stream."""
    t = feed.transition
    return {
        "id": feed.id,
        "release": ReleaseId.of(t.release).model_dump(),
        "ref": Ref.of(t.ref).model_dump(),
        "from_state": t.from_state,
        "to_state": t.to_state,
        "reason": t.reason,
        "message": t.message,
        "at": t.at.isoformat(),
        "root_cause": Ref.of(t.root_cause).model_dump() if t.root_cause else None,
    }


def kube_event(feed: FeedEvent) -> Mapping[str, Any]:
    """The `event` event of the live stream: a Kubernetes Event stored for the release."""
    e = feed.event
    return {
        "id": feed.id,
        "release": ReleaseId.of(feed.release).model_dump(),
        "ref": Ref.of(e.ref).model_dump(),
        "type": e.type,
        "reason": e.reason,
        "message": e.message,
        "count": e.count,
        "last_seen": e.last_seen.isoformat(),
    }


def step_event(feed: FeedStep) -> Mapping[str, Any]:
    """The `operation` event of the live stream."""
    s = feed.entry
    return {
        "id": feed.id,
        "release": ReleaseId.of(s.release).model_dump(),
        "revision": s.revision,
        "seq": s.seq,
        "at": s.at.isoformat(),
        "level": s.level,
        "step": s.step,
        "message": s.message,
    }
