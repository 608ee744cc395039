"""HorizontalPodAutoscaler: AbleToScale and ScalingActive."""

from __future__ import annotations

from helmguard.kube.messages import cause_from_message
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    cond_since,
    condition,
    is_false,
    lagging,
    result,
)


def hpa(observed: Observed) -> ResourceStatus:
    """Rule for autoscaling HorizontalPodAutoscaler.

    AbleToScale=False or ScalingActive=False (missing target, no metrics) -> Blocked
    with the controller's message; ScalingDisabled (scaled to zero on purpose) -> Ready.
    """
    obj = observed.obj
    status = obj.status
    for kind in ("AbleToScale", "ScalingActive"):
        cond = condition(status, kind)
        if is_false(cond) and cond is not None:
            reason = str(cond.get("reason") or kind)
            message = str(cond.get("message") or "")
            if reason == "ScalingDisabled":
                return result(observed, State.READY, reason, message, cond_since(cond))
            return result(
                observed,
                State.BLOCKED,
                reason,
                message,
                cond_since(cond),
                cause_from_message(message, obj.ref.namespace),
            )
    lag = lagging(observed)
    if lag is not None:
        return lag
    if not status.get("conditions"):
        return result(
            observed,
            State.PROGRESSING,
            "NotObserved",
            "the HPA controller has not evaluated it yet",
        )
    current = status.get("currentReplicas", "?")
    desired = status.get("desiredReplicas", "?")
    return result(observed, State.READY, "Active", f"{current} current, {desired} desired replicas")
