"""Small readers shared by the rules: conditions, timestamps, events, the result builder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from helmguard.kube.messages import cause_from_message
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status.fields import event_subject as event_subject
from helmguard.status.fields import parse_time as parse_time
from helmguard.status.fields import uid_of as uid_of
from helmguard.status.model import Observed, ResourceStatus, State

Condition = Mapping[str, Any]

_EMPTY: Mapping[str, Any] = {}

# Ready reasons of workloads that run no pod by design: a Service behind them gets no endpoint.
SCALED_TO_ZERO = "ScaledToZero"
NO_MATCHING_NODES = "NoMatchingNodes"
NO_NODES = "NoNodes"


def condition(status: Mapping[str, Any], kind: str) -> Condition | None:
    """The condition of type `kind` in status.conditions, if present."""
    for cond in status.get("conditions") or ():
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def is_true(cond: Condition | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def is_false(cond: Condition | None) -> bool:
    return cond is not None and cond.get("status") == "False"


def cond_since(cond: Condition | None) -> datetime | None:
    """When the condition last changed (lastTransitionTime, else lastUpdateTime)."""
    if cond is None:
        return None
    return parse_time(cond.get("lastTransitionTime") or cond.get("lastUpdateTime"))


def result(
    observed: Observed,
    state: State,
    reason: str,
    message: str,
    since: datetime | None = None,
    root_cause: ObjectRef | None = None,
) -> ResourceStatus:
    """Build the ResourceStatus for the observed object, stamping generation and version."""
    obj = observed.obj
    status = obj.status
    generation = status.get("observedGeneration")
    return ResourceStatus(
        ref=obj.ref,
        state=state,
        reason=reason,
        message=message,
        since=since,
        observed_generation=generation if isinstance(generation, int) else None,
        resource_version=obj.metadata.get("resourceVersion"),
        root_cause=root_cause,
    )


# Kinds whose controller always writes status.observedGeneration: until it has, it has not
# looked at the object (a fresh DaemonSet's first status says 0 desired nodes). HPAs write it
# only behind a feature gate and Pods only from kubelets that track it: those lag only when
# the field is present and behind.
OBSERVED_BY_CONTROLLER = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("", "ReplicationController"),
        ("policy", "PodDisruptionBudget"),
    }
)


def generation_lag(obj: K8sObject) -> bool:
    """True when the controller has not yet observed the latest spec.

    observedGeneration behind metadata.generation, or missing on a kind whose controller
    always writes it.
    """
    generation = obj.metadata.get("generation")
    if not isinstance(generation, int):
        return False
    seen = obj.status.get("observedGeneration")
    if isinstance(seen, int):
        return seen < generation
    ref = obj.ref
    return (ref.group, ref.kind) in OBSERVED_BY_CONTROLLER


def lag_message(obj: K8sObject) -> str:
    generation = obj.metadata.get("generation")
    seen = obj.status.get("observedGeneration")
    if not isinstance(seen, int):
        return (
            f"the {obj.kind} controller has not observed generation {generation} yet "
            "(no status.observedGeneration): its status says nothing yet"
        )
    return f"controller has observed generation {seen} of {generation}"


def scaled_to_zero(observed: Observed, since: datetime | None = None) -> ResourceStatus:
    """Ready with nothing to run: spec.replicas is 0, as asked."""
    return result(
        observed,
        State.READY,
        SCALED_TO_ZERO,
        "scaled to zero (spec.replicas 0): it runs no pod",
        since,
    )


def lagging(observed: Observed) -> ResourceStatus | None:
    """Progressing (ObservedGenerationLag) until the controller has seen the latest spec."""
    if generation_lag(observed.obj):
        return result(
            observed, State.PROGRESSING, "ObservedGenerationLag", lag_message(observed.obj)
        )
    return None


def replica_failure(
    observed: Observed, failure: Condition, fallback: ObjectRef | None = None
) -> ResourceStatus:
    """Blocked on a true ReplicaFailure condition: the cluster's words, the object they name.

    The root cause is what the message names (e.g. the missing ServiceAccount), else `fallback`.
    """
    message = str(failure.get("message") or "")
    return result(
        observed,
        State.BLOCKED,
        str(failure.get("reason") or "ReplicaFailure"),
        message,
        cond_since(failure),
        cause_from_message(message, observed.obj.ref.namespace) or fallback,
    )


def children_of_kind(observed: Observed, kind: str) -> list[K8sObject]:
    return [c for c in observed.children if c.kind == kind]


# --- events: core/v1 Event and events.k8s.io/v1 Event read the same way ---------------


def event_message(event: K8sObject) -> str:
    body = event.body
    return str(body.get("note") or body.get("message") or "")


def event_time(event: K8sObject) -> datetime | None:
    """The latest time the event was seen (series, lastTimestamp, eventTime, creation)."""
    body = event.body
    series = body.get("series") or _EMPTY
    for value in (
        series.get("lastObservedTime"),
        body.get("lastTimestamp"),
        body.get("deprecatedLastTimestamp"),
        body.get("eventTime"),
        event.metadata.get("creationTimestamp"),
    ):
        when = parse_time(value)
        if when is not None:
            return when
    return None


def latest_event(
    events: Iterable[K8sObject],
    reasons: Sequence[str],
    subject_uids: Iterable[str] | None = None,
    after: datetime | None = None,
) -> K8sObject | None:
    """The newest Event with one of `reasons`, about one of `subject_uids` if given.

    Events older than `after` are ignored: they describe an earlier attempt.
    """
    uids = set(subject_uids) if subject_uids is not None else None
    best: K8sObject | None = None
    best_time: datetime | None = None
    for event in events:
        if event.body.get("reason") not in reasons:
            continue
        if uids is not None and event_subject(event).get("uid") not in uids:
            continue
        when = event_time(event)
        if after is not None and when is not None and when < after:
            continue
        if best is None or (when is not None and (best_time is None or when > best_time)):
            best, best_time = event, when
    return best


def create_failure(observed: Observed) -> ResourceStatus | None:
    """Blocked from the controller's newest FailedCreate Event about this object, if any.

    StatefulSet, DaemonSet and Job controllers report pod creation failures only as
    Events; callers use this only while pods are actually missing.
    """
    obj = observed.obj
    event = latest_event(observed.events, ("FailedCreate",), (uid_of(obj),))
    if event is None:
        return None
    message = event_message(event)
    return result(
        observed,
        State.BLOCKED,
        "FailedCreate",
        message,
        event_time(event),
        cause_from_message(message, obj.ref.namespace),
    )


def from_child(observed: Observed, child: ResourceStatus, what: str = "pod") -> ResourceStatus:
    """This object's status taking a child's trouble, naming the child in the message."""
    return result(
        observed,
        child.state,
        child.reason,
        f"{what} {child.ref.name}: {child.message}",
        child.since,
        child.root_cause or child.ref,
    )
