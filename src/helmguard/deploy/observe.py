"""Looking at a release's objects on the cluster and asking `status/` what they are doing.

`looks` says what to read: each (kind, namespace) of the inventory, the children status
rules look at (ReplicaSets, Pods, Jobs, EndpointSlices), the Events of those namespaces and,
when a DaemonSet is among them, the Nodes. `observe_release` lists them once and `assemble`
(pure) returns one ResourceStatus per inventory object; the deploy's wait feeds `assemble`
from watches instead (`helmguard.deploy.watch`). `verdict` turns those
into the deploy's outcome; it is pure and decides only when the outcome is certain.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from helmguard.deploy.cluster import Cluster
from helmguard.kube.errors import PermissionDenied
from helmguard.kube.kinds import WORKLOAD_GROUPS, is_workload
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import (
    ResourceStatus,
    State,
    build_ownership,
    evaluate,
    evaluate_pod,
    index_events,
    missing,
    observe,
    service_backends,
    service_status,
)
from helmguard.status.ownership import current_replicaset
from helmguard.status.rules.service import LOAD_BALANCER_PENDING

# Children that status rules read, listed per namespace that holds a workload or Service.
_CHILD_KINDS = (
    ("apps", "ReplicaSet"),
    ("", "Pod"),
    ("batch", "Job"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("events.k8s.io", "Event"),
)
_PARENT_KINDS = frozenset({*WORKLOAD_GROUPS, "Service"})


@dataclass(frozen=True)
class Snapshot:
    """The release's objects as observed at `at`, with their statuses."""

    at: datetime
    live: Mapping[ObjectRef, K8sObject]
    statuses: Mapping[ObjectRef, ResourceStatus]
    children: tuple[K8sObject, ...]


Collection = tuple[str, str, str]  # (group, kind, namespace); namespace "" when cluster-wide


@dataclass(frozen=True)
class Looks:
    """What a look at a release reads: each inventory collection with the names wanted in
    it, the child collections status rules read, and whether the Nodes are needed."""

    wanted: tuple[ObjectRef, ...]
    inventory: Mapping[Collection, frozenset[str]]
    children: tuple[Collection, ...]
    placement: bool

    @property
    def collections(self) -> list[Collection]:
        """Every collection to read once (an inventory kind may also be a child kind)."""
        return list(dict.fromkeys([*self.inventory, *self.children]))


def looks(refs: Iterable[ObjectRef]) -> Looks:
    wanted = tuple(refs)
    by_collection: dict[Collection, set[str]] = defaultdict(set)
    child_namespaces: set[str] = set()
    for ref in wanted:
        by_collection[(ref.group, ref.kind, ref.namespace)].add(ref.name)
        if ref.kind in _PARENT_KINDS and ref.namespace:
            child_namespaces.add(ref.namespace)
    return Looks(
        wanted,
        {c: frozenset(names) for c, names in by_collection.items()},
        tuple((g, k, ns) for ns in sorted(child_namespaces) for g, k in _CHILD_KINDS),
        any((r.group, r.kind) == ("apps", "DaemonSet") for r in wanted),
    )


async def observe_release(cluster: Cluster, refs: Iterable[ObjectRef]) -> Snapshot:
    """One consistent-enough look at `refs` and their children; absent objects are Missing."""
    plan = looks(refs)
    collections = plan.collections
    results, nodes = await asyncio.gather(
        asyncio.gather(*(cluster.list(g, k, ns) for g, k, ns in collections)),
        list_nodes(cluster) if plan.placement else _no_nodes(),
    )
    return assemble(plan, dict(zip(collections, results, strict=True)), nodes)


def assemble(
    plan: Looks,
    listed: Mapping[Collection, Sequence[Mapping[str, Any]]],
    nodes: tuple[K8sObject, ...] | None,
) -> Snapshot:
    """The statuses of `plan.wanted` from what was read of each of its collections."""
    live: dict[ObjectRef, K8sObject] = {}
    for (group, kind, ns), names in plan.inventory.items():
        for item in listed[(group, kind, ns)]:
            obj = K8sObject(item)
            if obj.name in names and obj.ref.group == group:
                live[obj.ref] = obj
    children: list[K8sObject] = []
    events: list[K8sObject] = []
    for collection in plan.children:
        target = events if collection[1] == "Event" else children
        target.extend(K8sObject(item) for item in listed[collection])
    now = datetime.now(UTC)
    ownership = build_ownership([*live.values(), *children])
    by_uid = index_events(events)
    statuses: dict[ObjectRef, ResourceStatus] = {}
    for ref in plan.wanted:
        found = live.get(ref)
        statuses[ref] = (
            missing(ref, now)
            if found is None
            else evaluate(observe(found, ownership, now, by_uid, nodes))
        )
    for ref, status in statuses.items():
        if ref.kind == "Service" and ref in live:
            backends = service_backends(live[ref], live.values())
            statuses[ref] = service_status(status, [statuses[b.ref] for b in backends])
    return Snapshot(now, live, statuses, tuple(children))


async def list_nodes(cluster: Cluster) -> tuple[K8sObject, ...] | None:
    """The cluster's Nodes, for DaemonSets with no desired node; None if we may not list them."""
    try:
        return tuple(K8sObject(item) for item in await cluster.list("", "Node"))
    except PermissionDenied:
        return None


async def _no_nodes() -> None:
    return None


@dataclass(frozen=True)
class Verdict:
    """Whether waiting is over, and if so whether the release is Ready and why not."""

    done: bool
    ready: bool
    state: State
    message: str
    culprit: ResourceStatus | None = None
    root_cause: ObjectRef | None = None


_CERTAIN = frozenset({State.BLOCKED, State.FAILED})


def _describe(status: ResourceStatus, snapshot: Snapshot | None) -> str:
    """`Blocked: Deployment.apps ns/x (ReplicaSet ns/x-123) FailedCreate: <cluster's words>`."""
    where = str(status.ref)
    if snapshot is not None and status.ref.kind == "Deployment" and status.reason == "FailedCreate":
        obj = snapshot.live.get(status.ref)
        if obj is not None:
            replicasets = [c for c in snapshot.children if c.kind == "ReplicaSet"]
            current = current_replicaset(obj, replicasets)
            if current is not None:
                where += f" (ReplicaSet {current.namespace}/{current.name})"
    text = f"{status.state}: {where} {status.reason}: {status.message}"
    if status.root_cause is not None and status.root_cause != status.ref:
        text += f" [root cause: {status.root_cause}]"
    return text


def unawaited(status: ResourceStatus, *, wait_for_load_balancers: bool = False) -> bool:
    """Whether the wait passes over this status: a load balancer no controller may ever give.

    Many clusters run no load-balancer controller; the Service works inside the cluster
    and the deploy reports it instead of waiting, unless the user asked to wait.
    """
    service = (status.ref.group, status.ref.kind) == ("", "Service")
    return service and status.reason == LOAD_BALANCER_PENDING and not wait_for_load_balancers


def verdict(
    statuses: Sequence[ResourceStatus],
    snapshot: Snapshot | None = None,
    *,
    wait_for_load_balancers: bool = False,
) -> Verdict:
    """Done when everything is Ready, or as soon as something is Blocked or Failed.

    Blocked and Failed end the wait at once because nothing the deploy does next can
    change them; the message names the object, the reason and the cluster's words. A
    LoadBalancer Service without an address does not hold the verdict unless
    `wait_for_load_balancers`; the message says it is not Ready.
    """
    trouble = [s for s in statuses if s.state in _CERTAIN]
    if trouble:
        # On a tie the workload explains better than the Service that passes its trouble on.
        worst = max(trouble, key=lambda s: (s.state.severity, s.ref.kind != "Service"))
        return Verdict(
            True,
            False,
            worst.state,
            _describe(worst, snapshot),
            worst,
            worst.root_cause or worst.ref,
        )
    pending = [s for s in statuses if s.state is not State.READY]
    waiting = [
        s for s in pending if not unawaited(s, wait_for_load_balancers=wait_for_load_balancers)
    ]
    if not waiting:
        if not pending:
            return Verdict(True, True, State.READY, f"all {len(statuses)} resources Ready")
        ready = len(statuses) - len(pending)
        names = ", ".join(str(s.ref) for s in pending)
        return Verdict(
            True,
            True,
            State.READY,
            f"{ready} of {len(statuses)} resources Ready; not waited for: {names}: "
            "no load-balancer controller has assigned an address "
            "(--wait-for-load-balancers waits for it)",
        )
    first = max(waiting, key=lambda s: s.state.severity)
    return Verdict(False, False, first.state, _describe(first, snapshot), first)


def hook_runs(ref: ObjectRef) -> bool:
    """Whether a hook must be waited for: Helm's WatchUntilReady waits for Jobs and Pods
    only; any other hook has done its part once the API server has it."""
    return ref.kind in ("Job", "Pod") and is_workload(ref)


def hook_verdict(status: ResourceStatus, snapshot: Snapshot) -> Verdict:
    """Whether a Job or Pod hook has run, decided as Helm's WatchUntilReady does.

    A Job is done when it completes and a Pod when its phase is Succeeded (a Running Pod
    is not done). Blocked and Failed end the wait at once, as in `verdict`, naming the
    pods' trouble.
    """
    ref = status.ref
    if status.state is State.MISSING:
        return Verdict(False, False, State.MISSING, f"{ref} {status.message}", status)
    if status.state in _CERTAIN:
        failed = verdict([status], snapshot)
        pods = [p for p in job_pods(snapshot, ref) if p.state is not State.READY]
        detail = "; ".join(f"pod {p.ref.name} {p.state} {p.reason}: {p.message}" for p in pods)
        return Verdict(
            True,
            False,
            failed.state,
            failed.message + (f" ({detail})" if detail else ""),
            failed.culprit,
            failed.root_cause,
        )
    live = snapshot.live.get(ref)
    if ref.kind == "Pod" and live is not None and live.status.get("phase") != "Succeeded":
        phase = live.status.get("phase") or "Pending"
        return Verdict(False, False, State.PROGRESSING, f"pod {ref.name} is {phase}", status)
    outcome = verdict([status], snapshot)
    if outcome.ready:  # what the Job or Pod did, in its own words
        return replace(outcome, message=f"{status.reason}: {status.message}")
    return outcome


def job_pods(snapshot: Snapshot, job: ObjectRef) -> list[ResourceStatus]:
    """The statuses of the pods a Job (by uid) created, as far as the snapshot saw them."""
    live = snapshot.live.get(job)
    uid = live.metadata.get("uid") if live is not None else None
    if job.kind != "Job" or not uid:
        return []
    return [
        evaluate_pod(c, snapshot.at)
        for c in snapshot.children
        if c.kind == "Pod"
        and any(o.get("uid") == uid for o in c.metadata.get("ownerReferences") or ())
    ]


def established(obj: K8sObject | None) -> tuple[bool, str]:
    """Whether an object a later wave depends on is usable yet, and if not, why.

    CRD: Established and NamesAccepted; Namespace: Active; anything else: it exists
    and is not being deleted.
    """
    if obj is None:
        return False, "does not exist yet"
    if obj.metadata.get("deletionTimestamp"):
        return False, "is being deleted"
    conditions = {
        str(c.get("type")): c for c in obj.status.get("conditions") or () if isinstance(c, dict)
    }
    if obj.kind == "CustomResourceDefinition":
        for kind in ("NamesAccepted", "Established"):
            cond = conditions.get(kind)
            if cond is None or cond.get("status") != "True":
                detail = f": {cond.get('message')}" if cond and cond.get("message") else ""
                return False, f"is not {kind} yet{detail}"
        return True, "Established"
    if obj.kind == "Namespace":
        phase = obj.status.get("phase")
        return (phase == "Active", f"phase {phase}" if phase != "Active" else "Active")
    return True, "exists"
