"""Deployment: its own conditions first, then the current ReplicaSet and its pods."""

from __future__ import annotations

from helmguard.kube.messages import cause_from_message
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.ownership import current_replicaset
from helmguard.status.rules.common import (
    children_of_kind,
    cond_since,
    condition,
    is_true,
    lagging,
    replica_failure,
    result,
    scaled_to_zero,
)
from helmguard.status.rules.pod import pod_trouble


def deployment(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 Deployment.

    Failed on ProgressDeadlineExceeded; Blocked at once on ReplicaFailure (its own
    condition, or the current ReplicaSet's before the controller copies it); then the
    worst of the current ReplicaSet's pods; then rollout arithmetic.
    """
    obj = observed.obj
    status = obj.status
    ns = obj.ref.namespace
    lag = lagging(observed)
    if lag is not None:
        return lag

    replicasets = children_of_kind(observed, "ReplicaSet")
    current = current_replicaset(obj, replicasets) if replicasets else None
    failure = condition(status, "ReplicaFailure")
    if not is_true(failure) and current is not None:
        failure = condition(current.status, "ReplicaFailure")
    failing = is_true(failure)
    failure_message = str(failure.get("message") or "") if failure and failing else ""

    progressing = condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        message = str(progressing.get("message") or "progress deadline exceeded")
        if failure_message:
            message += f"; {failure_message}"
        return result(
            observed,
            State.FAILED,
            "ProgressDeadlineExceeded",
            message,
            cond_since(progressing),
            cause_from_message(failure_message, ns) if failure_message else None,
        )
    if failing and failure is not None:
        return replica_failure(observed, failure, current.ref if current else None)

    trouble = pod_trouble(observed, children_of_kind(observed, "Pod"))
    if trouble is not None:
        return trouble

    spec = obj.spec
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    since = cond_since(progressing)
    if spec.get("paused"):
        return result(
            observed,
            State.READY if updated >= replicas else State.PROGRESSING,
            "Paused",
            f"rollout paused (spec.paused); {updated} of {replicas} replicas updated",
            since,
        )
    if updated < replicas:
        return result(
            observed,
            State.PROGRESSING,
            "RollingOut",
            f"{updated} of {replicas} replicas updated",
            since,
        )
    if total > updated:
        return result(
            observed,
            State.PROGRESSING,
            "RollingOut",
            f"{total - updated} old replicas pending termination",
            since,
        )
    if available < updated:
        return result(
            observed,
            State.PROGRESSING,
            "WaitingForAvailable",
            f"{available} of {updated} updated replicas available",
            since,
        )
    available_cond = condition(status, "Available")
    if replicas == 0:
        return scaled_to_zero(observed, cond_since(available_cond) or since)
    return result(
        observed,
        State.READY,
        "Available",
        f"{available} of {replicas} replicas available",
        cond_since(available_cond) or since,
    )
