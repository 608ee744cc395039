"""Component and app status: the worst of the parts, with the object that explains it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from helmguard.manifest import ObjectRef
from helmguard.status.model import ResourceStatus, State
from helmguard.status.rules.common import NO_MATCHING_NODES, NO_NODES, SCALED_TO_ZERO
from helmguard.status.rules.service import NO_READY_ENDPOINTS

_TROUBLE = frozenset({State.BLOCKED, State.FAILED})


def missing(ref: ObjectRef, since: datetime | None = None) -> ResourceStatus:
    """An object the release expects that the cluster does not have."""
    return ResourceStatus(ref, State.MISSING, "NotFound", f"{ref} does not exist", since)


def unknown(
    ref: ObjectRef, reason: str, message: str, since: datetime | None = None
) -> ResourceStatus:
    """No trustworthy information about `ref` (not observed yet, or the watch is down)."""
    return ResourceStatus(ref, State.UNKNOWN, reason, message, since)


def worst(statuses: Iterable[ResourceStatus]) -> ResourceStatus | None:
    """The most severe status; the first one wins a tie, so order by explanatory power."""
    found: ResourceStatus | None = None
    for status in statuses:
        if found is None or status.state.severity > found.state.severity:
            found = status
    return found


def _dependency_effect(workload: ResourceStatus, dep: ResourceStatus) -> ResourceStatus:
    """What a dependency's state does to the component that needs it."""
    if dep.state is State.READY:
        return ResourceStatus(workload.ref, State.READY, dep.reason, dep.message, dep.since)
    if dep.state is State.MISSING:
        message = f"{dep.ref} does not exist"
        if workload.state in _TROUBLE:
            message += f"; {workload.ref}: {workload.message}"
        return ResourceStatus(
            workload.ref,
            State.BLOCKED,
            "MissingDependency",
            message,
            dep.since or workload.since,
            workload.observed_generation,
            workload.resource_version,
            dep.ref,
        )
    # A dependency being deleted does not stop what already runs; it is a warning sign.
    state = State.PROGRESSING if dep.state is State.TERMINATING else dep.state
    return ResourceStatus(
        workload.ref,
        state,
        dep.reason,
        f"{dep.ref}: {dep.message}",
        dep.since,
        workload.observed_generation,
        workload.resource_version,
        dep.root_cause or dep.ref,
    )


def _pod_effect(workload: ResourceStatus, pod: ResourceStatus) -> ResourceStatus:
    # One pod going away during a rollout is progress, not the component's deletion.
    state = State.PROGRESSING if pod.state is State.TERMINATING else pod.state
    return ResourceStatus(
        workload.ref,
        state,
        pod.reason,
        f"pod {pod.ref.name}: {pod.message}",
        pod.since,
        workload.observed_generation,
        workload.resource_version,
        pod.root_cause or pod.ref,
    )


def component_status(
    workload: ResourceStatus,
    pods: Sequence[ResourceStatus] = (),
    dependencies: Sequence[ResourceStatus] = (),
) -> ResourceStatus:
    """A component's status: the worst of its workload, its current pods and its dependencies.

    The result keeps the workload's ref. A Missing dependency makes the component
    Blocked with that dependency as root_cause and a message naming it; on a tie the
    dependency wins over the pods, and the pods over the workload, because the cause
    explains the symptom.
    """
    candidates: list[ResourceStatus] = []
    for dep in dependencies:
        if dep.state is not State.READY:
            candidates.append(_dependency_effect(workload, dep))
    for pod in pods:
        if pod.state is not State.READY:
            candidates.append(_pod_effect(workload, pod))
    candidates.append(workload)
    chosen = worst(candidates)
    assert chosen is not None  # the workload is always a candidate
    return chosen


_RUNS_NO_POD = frozenset({SCALED_TO_ZERO, NO_MATCHING_NODES, NO_NODES})


def service_status(service: ResourceStatus, backends: Sequence[ResourceStatus]) -> ResourceStatus:
    """A Service without a ready endpoint, judged at once by the workloads behind it.

    `backends` are the (component) statuses of the workloads whose pods its selector picks.
    A Blocked or Failed backend makes the Service so, naming the backend's root cause.
    When every backend runs no pod by design no endpoint will come: scaled to zero is
    what was asked (Ready, saying so); a DaemonSet no node may run is Blocked on it until
    a node that matches joins. Otherwise the Service's own verdict stands (still waiting).
    """
    if service.reason != NO_READY_ENDPOINTS or not backends:
        return service
    trouble = worst(b for b in backends if b.state in _TROUBLE)
    if trouble is not None:
        return ResourceStatus(
            service.ref,
            trouble.state,
            trouble.reason,
            f"no ready endpoints: backend {trouble.ref}: {trouble.message}",
            trouble.since,
            service.observed_generation,
            service.resource_version,
            trouble.root_cause or trouble.ref,
        )
    if not all(b.state is State.READY and b.reason in _RUNS_NO_POD for b in backends):
        return service
    why = "; ".join(f"{b.ref}: {b.message}" for b in backends)
    unplaced = [b for b in backends if b.reason != SCALED_TO_ZERO]
    if unplaced:
        return ResourceStatus(
            service.ref,
            State.BLOCKED,
            "NoBackendPods",
            f"no endpoint can come: its backends run no pod ({why})",
            unplaced[0].since,
            service.observed_generation,
            service.resource_version,
            unplaced[0].ref,
        )
    return ResourceStatus(
        service.ref,
        State.READY,
        SCALED_TO_ZERO,
        f"no endpoints, as asked: its backends are scaled to zero ({why})",
        None,
        service.observed_generation,
        service.resource_version,
    )


@dataclass(frozen=True, slots=True)
class AppStatus:
    """A release's status: the worst part's state, why, and which object explains it."""

    state: State
    reason: str
    message: str
    since: datetime | None
    root_cause: ObjectRef | None
    culprit: ResourceStatus | None
    counts: tuple[tuple[State, int], ...]


def app_status(
    components: Sequence[ResourceStatus], resources: Sequence[ResourceStatus] = ()
) -> AppStatus:
    """The worst of the components and the other resources; a tie goes to a component.

    No parts at all is Missing (NotFound): a release is never Ready for having nothing.

    `root_cause` is the culprit's own root cause when it has one, else the culprit.
    """
    parts = [*components, *resources]
    counts = Counter(p.state for p in parts)
    tally = tuple(sorted(counts.items(), key=lambda kv: -kv[0].severity))
    chosen = worst(parts)
    if chosen is None:
        # Nothing found is never fine: an unknown release or a selector that matches nothing.
        return AppStatus(
            State.MISSING, "NotFound", "the release has no resources", None, None, None, ()
        )
    if chosen.state is State.READY:
        return AppStatus(
            State.READY,
            "Ready",
            f"all {len(parts)} resources ready",
            max((p.since for p in parts if p.since is not None), default=None),
            None,
            None,
            tally,
        )
    return AppStatus(
        chosen.state,
        chosen.reason,
        f"{chosen.ref}: {chosen.message}",
        chosen.since,
        chosen.root_cause or chosen.ref,
        chosen,
        tally,
    )
