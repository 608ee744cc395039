"""HorizontalPodAutoscaler: AbleToScale and ScalingActive."""

from __future__ import annotations

import re

from helmguard.kube.messages import cause_from_message
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    cond_since,
    condition,
    is_false,
    lagging,
    result,
)

# The metrics APIs the HPA controller's clients ask, named in its "(get …)" messages.
_METRICS_API = re.compile(r"\(get [a-z]+\.((?:custom\.|external\.)?metrics\.k8s\.io)\)")


def _metrics_failure(obj: K8sObject, message: str) -> tuple[State, ObjectRef | None]:
    """A FailedGet…Metric is lasting when the metrics API is not served at all, or when the
    target's containers request none of the resource (root cause: the API, the target);
    otherwise the metrics are not there yet (new pods have none for the first scrapes, a
    metrics server is starting): the controller retries every 15 s, Progressing."""
    if "could not find the requested resource" in message:
        api = _METRICS_API.search(message)
        name = f"v1beta1.{api.group(1)}" if api else "v1beta1.metrics.k8s.io"
        return State.BLOCKED, ObjectRef("apiregistration.k8s.io", "APIService", "", name)
    if "missing request for" in message:
        target = obj.spec.get("scaleTargetRef") or {}
        group = str(target.get("apiVersion") or "").rpartition("/")[0]
        kind, name = str(target.get("kind") or ""), str(target.get("name") or "")
        return State.BLOCKED, ObjectRef(group, kind, obj.ref.namespace, name) if name else None
    return State.PROGRESSING, None


def hpa(observed: Observed) -> ResourceStatus:
    """Rule for autoscaling HorizontalPodAutoscaler.

    AbleToScale=False or ScalingActive=False (missing target, invalid selector) -> Blocked
    with the controller's message; a metric it cannot read -> Blocked when that lasts (no
    metrics API, containers without requests), else Progressing (`_metrics_failure`);
    ScalingDisabled (scaled to zero on purpose) -> Ready.
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
            state, cause = State.BLOCKED, cause_from_message(message, obj.ref.namespace)
            if reason.startswith("FailedGet") and reason.endswith("Metric"):
                state, cause = _metrics_failure(obj, message)
            return result(observed, state, reason, message, cond_since(cond), cause)
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
