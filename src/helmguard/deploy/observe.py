"""Looking at a release's objects on the cluster, as the sync judges them, and the deploy's verdict.

`observe` lists once what `helmguard.sync.look.looks` names and evaluates it with the sync's
`assemble`: the statuses the deploy waits on are those `status --live` and serve report.
The deploy's wait feeds `assemble` from watches instead (`helmguard.deploy.watch`).
`verdict` turns those statuses into the deploy's outcome; it is pure and decides only when
the outcome is certain.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from helmguard.deploy.cluster import Cluster
from helmguard.kube.errors import PermissionDenied
from helmguard.kube.informer import Body
from helmguard.kube.kinds import is_workload
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import ResourceStatus, State, evaluate_pod
from helmguard.status.fields import uid_of
from helmguard.status.ownership import controller_uid, current_replicaset
from helmguard.status.rules.service import LOAD_BALANCER_PENDING
from helmguard.sync.look import NODES, Collection, Looks, Snapshot, assemble, kept, looks_at


async def read_collection(
    cluster: Cluster, plan: Looks, collection: Collection
) -> list[Body] | None:
    """One collection of the look, as kept; None when RBAC refuses one that may be unread."""
    group, kind, namespace = collection
    try:
        items = await cluster.list(group, kind, namespace)
    except PermissionDenied:
        if plan.optional(collection):
            return None
        raise
    keep = kept(group, kind)
    return [keep(item) for item in items]


async def observe(cluster: Cluster, plan: Looks) -> Snapshot:
    """One consistent-enough look: each collection listed once; absent members are Missing."""
    collections = plan.collections
    results = await asyncio.gather(*(read_collection(cluster, plan, c) for c in collections))
    listed = dict(zip(collections, results, strict=True))
    nodes = await list_nodes(cluster) if plan.needs_nodes(listed) else None
    return assemble(plan, listed, nodes)


async def observe_release(cluster: Cluster, refs: Iterable[ObjectRef]) -> Snapshot:
    """A look at `refs` (and what their statuses depend on); absent objects are Missing."""
    return await observe(cluster, looks_at(refs))


async def list_nodes(cluster: Cluster) -> list[Body] | None:
    """The cluster's Nodes, for DaemonSets with no desired node; None if we may not list them."""
    try:
        items = await cluster.list(*NODES)
    except PermissionDenied:
        return None
    keep = kept("", "Node")
    return [keep(item) for item in items]


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


def _in_own_words(status: ResourceStatus, snapshot: Snapshot | None) -> ResourceStatus:
    """The workload's own verdict when it says the same (its controller's words: a
    ReplicaSet's FailedCreate), with the component's root cause; else the component's."""
    own = snapshot.own.get(status.ref) if snapshot is not None else None
    if own is None or own.state is not status.state or own == status:
        return status
    return replace(own, root_cause=status.root_cause or own.root_cause)


def unconfirmed(status: ResourceStatus, snapshot: Snapshot) -> bool:
    """Whether a workload is in trouble only through what it needs or its pods, while its
    controller has not said so yet (a missing ServiceAccount before the FailedCreate)."""
    own = snapshot.own.get(status.ref)
    return status.state in _CERTAIN and own is not None and own.state not in _CERTAIN


def pods_created(ref: ObjectRef, snapshot: Snapshot) -> bool:
    """Whether the workload's controller has created pods of it (a Deployment's: of its
    current ReplicaSet): it tried, and the API server let it, so the controller will not
    put into words what stops those pods (a missing ConfigMap, Secret or claim)."""
    obj = snapshot.live.get(ref)
    if obj is None:
        return False
    owners = {uid_of(obj)}
    if ref.kind == "Deployment":
        replicasets = [c for c in snapshot.children if c.kind == "ReplicaSet"]
        current = current_replicaset(obj, replicasets)
        owners = {uid_of(current)} if current is not None else set()
    return any(c.kind == "Pod" and controller_uid(c) in owners for c in snapshot.children)


_REFUSED_POD = re.compile(r'pods "([a-z0-9][a-z0-9.-]*)-" is forbidden')


def _describe(status: ResourceStatus, snapshot: Snapshot | None) -> str:
    """`Blocked: Deployment.apps ns/x (ReplicaSet ns/x-123) FailedCreate: <cluster's words>`."""
    status = _in_own_words(status, snapshot)
    where = str(status.ref)
    if snapshot is not None and status.ref.kind == "Deployment" and status.reason == "FailedCreate":
        obj = snapshot.live.get(status.ref)
        if obj is not None:
            replicasets = [c for c in snapshot.children if c.kind == "ReplicaSet"]
            current = current_replicaset(obj, replicasets)
            if current is not None:
                where += f" (ReplicaSet {current.namespace}/{current.name})"
            elif (named := _REFUSED_POD.search(status.message)) is not None:
                # The Deployment's copy of the condition came before the ReplicaSet's event:
                # the refused pod's generateName is the ReplicaSet's name and a dash.
                where += f" (ReplicaSet {status.ref.namespace}/{named.group(1)})"
    text = f"{status.state}: {where} {status.reason}: {status.message}"
    if status.root_cause is not None and status.root_cause != status.ref:
        text += f" [root cause: {status.root_cause}]"
    return text


_ADDRESSED = frozenset({("", "Service"), ("networking.k8s.io", "Ingress")})


def unawaited(status: ResourceStatus, *, wait_for_load_balancers: bool = False) -> bool:
    """Whether the wait passes over this status: an address no controller may ever give.

    Many clusters run no load-balancer controller, or no ingress controller; the Service
    works inside the cluster, the Ingress is stored, and the deploy reports each instead of
    waiting (helm's wait does not wait for either), unless the user asked to wait.
    """
    addressed = (status.ref.group, status.ref.kind) in _ADDRESSED
    return addressed and status.reason == LOAD_BALANCER_PENDING and not wait_for_load_balancers


def verdict(
    statuses: Sequence[ResourceStatus],
    snapshot: Snapshot | None = None,
    *,
    wait_for_load_balancers: bool = False,
) -> Verdict:
    """Done when everything is Ready, or as soon as something is Blocked or Failed.

    Blocked and Failed end the wait at once because nothing the deploy does next can
    change them; the message names the object, the reason and the cluster's words. A
    LoadBalancer Service or an Ingress without an address does not hold the verdict unless
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
