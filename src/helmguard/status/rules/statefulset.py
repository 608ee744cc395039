"""StatefulSet: pods first (it has no failure condition), then partitions and OnDelete."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    children_of_kind,
    create_failure,
    lagging,
    result,
    scaled_to_zero,
)
from helmguard.status.rules.pod import pod_trouble


def statefulset(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 StatefulSet.

    Pod trouble and FailedCreate Events (while pods are missing) decide Blocked/Failed;
    a partitioned rollout is Ready once the pods above the partition are updated; an
    OnDelete StatefulSet is Ready when all replicas are ready.
    """
    obj = observed.obj
    status = obj.status
    spec = obj.spec
    lag = lagging(observed)
    if lag is not None:
        return lag
    trouble = pod_trouble(observed, children_of_kind(observed, "Pod"))
    if trouble is not None:
        return trouble

    replicas = spec.get("replicas", 1)
    current = status.get("replicas") or 0
    ready = status.get("readyReplicas") or 0
    updated = status.get("updatedReplicas") or 0
    if current < replicas:
        failure = create_failure(observed)
        if failure is not None:
            return failure
    if ready < replicas:
        return result(
            observed, State.PROGRESSING, "WaitingForReady", f"{ready} of {replicas} replicas ready"
        )
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return result(
            observed,
            State.READY,
            "Ready",
            f"{ready} of {replicas} replicas ready (OnDelete: {updated} updated; "
            "pods take the new template only when deleted)",
        )
    partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
    if partition > 0:
        target = max(replicas - partition, 0)
        if updated < target:
            return result(
                observed,
                State.PROGRESSING,
                "PartitionRollout",
                f"{updated} of {target} pods above partition {partition} updated",
            )
        return result(
            observed,
            State.READY,
            "Ready",
            f"{ready} of {replicas} replicas ready; partitioned rollout done "
            f"({updated} updated, partition {partition})",
        )
    if status.get("updateRevision") and status.get("currentRevision") != status.get(
        "updateRevision"
    ):
        return result(
            observed,
            State.PROGRESSING,
            "RollingOut",
            f"{updated} of {replicas} pods updated to revision {status.get('updateRevision')}",
        )
    if replicas == 0:
        return scaled_to_zero(observed)
    return result(observed, State.READY, "Ready", f"{ready} of {replicas} replicas ready")
