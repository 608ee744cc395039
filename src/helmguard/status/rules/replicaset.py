"""ReplicaSet: ReplicaFailure (FailedCreate), its pods, then ready replicas."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    cause_from_message,
    cond_since,
    condition,
    from_child,
    generation_lag,
    is_true,
    lag_message,
    result,
)
from helmguard.status.rules.pod import worst_pod_problem


def replicaset(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 ReplicaSet: Blocked on ReplicaFailure with the cluster's message."""
    obj = observed.obj
    status = obj.status
    if generation_lag(obj):
        return result(observed, State.PROGRESSING, "ObservedGenerationLag", lag_message(obj))
    failure = condition(status, "ReplicaFailure")
    if is_true(failure) and failure is not None:
        message = str(failure.get("message") or "")
        return result(
            observed,
            State.BLOCKED,
            str(failure.get("reason") or "ReplicaFailure"),
            message,
            cond_since(failure),
            cause_from_message(message, obj.ref.namespace),
        )
    pods = [c for c in observed.children if c.kind == "Pod"]
    problem = worst_pod_problem(pods, observed.now, observed.events) if pods else None
    if problem is not None:
        return from_child(observed, problem)
    replicas = obj.spec.get("replicas", 1)
    ready = status.get("readyReplicas") or 0
    available = status.get("availableReplicas") or 0
    if ready < replicas or available < replicas:
        return result(
            observed,
            State.PROGRESSING,
            "WaitingForAvailable",
            f"{available} of {replicas} replicas available",
        )
    return result(
        observed, State.READY, "Available", f"{available} of {replicas} replicas available"
    )
