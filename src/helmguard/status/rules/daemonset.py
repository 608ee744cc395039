"""DaemonSet: pods, FailedCreate, misscheduled pods, unavailable and not-yet-updated nodes."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    children_of_kind,
    create_failure,
    lagging,
    result,
)
from helmguard.status.rules.pod import pod_trouble


def daemonset(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 DaemonSet: Ready when every desired node runs an available, updated pod."""
    obj = observed.obj
    status = obj.status
    lag = lagging(observed)
    if lag is not None:
        return lag
    trouble = pod_trouble(observed, children_of_kind(observed, "Pod"))
    if trouble is not None:
        return trouble

    desired = status.get("desiredNumberScheduled") or 0
    scheduled = status.get("currentNumberScheduled") or 0
    available = status.get("numberAvailable") or 0
    updated = status.get("updatedNumberScheduled") or 0
    misscheduled = status.get("numberMisscheduled") or 0
    if scheduled < desired or available < desired:
        failure = create_failure(observed)
        if failure is not None:
            return failure
    if misscheduled:
        return result(
            observed,
            State.PROGRESSING,
            "Misscheduled",
            f"{misscheduled} daemon pods run on nodes that should not run them",
        )
    on_delete = (obj.spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if updated < desired and not on_delete:
        return result(
            observed, State.PROGRESSING, "RollingOut", f"{updated} of {desired} nodes updated"
        )
    if available < desired:
        unavailable = status.get("numberUnavailable") or desired - available
        return result(
            observed,
            State.PROGRESSING,
            "Unavailable",
            f"{unavailable} of {desired} daemon pods unavailable",
        )
    if desired == 0:
        return result(observed, State.READY, "NoNodes", "no node matches this DaemonSet")
    return result(observed, State.READY, "Ready", f"{available} of {desired} daemon pods available")
