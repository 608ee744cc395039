"""ReplicaSet: ReplicaFailure (FailedCreate), its pods, then ready replicas."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    children_of_kind,
    condition,
    is_true,
    lagging,
    replica_failure,
    result,
)
from helmguard.status.rules.pod import pod_trouble


def replicaset(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 ReplicaSet: Blocked on ReplicaFailure with the cluster's message."""
    obj = observed.obj
    status = obj.status
    lag = lagging(observed)
    if lag is not None:
        return lag
    failure = condition(status, "ReplicaFailure")
    if is_true(failure) and failure is not None:
        return replica_failure(observed, failure)
    trouble = pod_trouble(observed, children_of_kind(observed, "Pod"))
    if trouble is not None:
        return trouble
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
