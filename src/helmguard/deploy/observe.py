"""Looking at a release's objects on the cluster and asking `status/` what they are doing.

`observe_release` lists each (kind, namespace) of the inventory once, plus the children
status rules look at (ReplicaSets, Pods, Jobs, EndpointSlices) and the Events of those
namespaces, and returns one ResourceStatus per inventory object. `verdict` turns those
into the deploy's outcome; it is pure and decides only when the outcome is certain.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from helmguard.deploy.cluster import Cluster
from helmguard.graph.refs import WORKLOAD_GROUPS
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
)
from helmguard.status.ownership import current_replicaset

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


async def observe_release(cluster: Cluster, refs: Iterable[ObjectRef]) -> Snapshot:
    """One consistent-enough look at `refs` and their children; absent objects are Missing."""
    wanted = list(refs)
    by_collection: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    child_namespaces: set[str] = set()
    for ref in wanted:
        by_collection[(ref.group, ref.kind, ref.namespace)].add(ref.name)
        if ref.kind in _PARENT_KINDS and ref.namespace:
            child_namespaces.add(ref.namespace)
    collections = list(by_collection)
    children_lists = [(g, k, ns) for ns in sorted(child_namespaces) for g, k in _CHILD_KINDS]
    results = await asyncio.gather(
        *(cluster.list(g, k, ns) for g, k, ns in collections),
        *(cluster.list(g, k, ns) for g, k, ns in children_lists),
    )
    live: dict[ObjectRef, K8sObject] = {}
    for (group, kind, ns), items in zip(collections, results[: len(collections)], strict=True):
        names = by_collection[(group, kind, ns)]
        for item in items:
            obj = K8sObject(item)
            if obj.name in names and obj.ref.group == group:
                live[obj.ref] = obj
    children: list[K8sObject] = []
    events: list[K8sObject] = []
    for (_, kind, _), items in zip(children_lists, results[len(collections) :], strict=True):
        target = events if kind == "Event" else children
        target.extend(K8sObject(item) for item in items)
    now = datetime.now(UTC)
    ownership = build_ownership([*live.values(), *children])
    by_uid = index_events(events)
    statuses: dict[ObjectRef, ResourceStatus] = {}
    for ref in wanted:
        found = live.get(ref)
        statuses[ref] = (
            missing(ref, now) if found is None else evaluate(observe(found, ownership, now, by_uid))
        )
    return Snapshot(now, live, statuses, tuple(children))


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


def verdict(statuses: Sequence[ResourceStatus], snapshot: Snapshot | None = None) -> Verdict:
    """Done when everything is Ready, or as soon as something is Blocked or Failed.

    Blocked and Failed end the wait at once because nothing the deploy does next can
    change them; the message names the object, the reason and the cluster's words.
    """
    trouble = [s for s in statuses if s.state in _CERTAIN]
    if trouble:
        worst = max(trouble, key=lambda s: s.state.severity)
        return Verdict(
            True,
            False,
            worst.state,
            _describe(worst, snapshot),
            worst,
            worst.root_cause or worst.ref,
        )
    pending = [s for s in statuses if s.state is not State.READY]
    if not pending:
        return Verdict(True, True, State.READY, f"all {len(statuses)} resources Ready")
    first = max(pending, key=lambda s: s.state.severity)
    return Verdict(False, False, first.state, _describe(first, snapshot), first)


def hook_runs(ref: ObjectRef) -> bool:
    """Whether a hook must be waited for: Helm's WatchUntilReady waits for Jobs and Pods
    only; any other hook has done its part once the API server has it."""
    return ref.kind in ("Job", "Pod") and WORKLOAD_GROUPS.get(ref.kind) == ref.group


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
