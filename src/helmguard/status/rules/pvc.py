"""PersistentVolumeClaim: Bound, Lost, and why a claim is Pending."""

from __future__ import annotations

from helmguard.kube.messages import cause_from_message
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    event_message,
    event_time,
    latest_event,
    result,
    uid_of,
)

_PENDING_EVENTS = (
    "WaitForFirstConsumer",
    "WaitForPodScheduled",
    "FailedBinding",
    "ProvisioningFailed",
    "ExternalProvisioning",
    "Provisioning",
)
# The PV controller retries these; a new PV, StorageClass or provisioner heals them.
_BLOCKING_EVENTS = frozenset({"FailedBinding", "ProvisioningFailed"})


def pvc(observed: Observed) -> ResourceStatus:
    """Rule for v1 PersistentVolumeClaim.

    Lost -> Failed; Pending -> Blocked on FailedBinding/ProvisioningFailed, Progressing
    with reason WaitForFirstConsumer when binding waits for a pod (not a failure).
    """
    obj = observed.obj
    phase = obj.status.get("phase")
    if phase == "Bound":
        return result(
            observed, State.READY, "Bound", f"bound to volume {obj.spec.get('volumeName', '?')}"
        )
    if phase == "Lost":
        return result(
            observed,
            State.FAILED,
            "ClaimLost",
            f"bound PersistentVolume {obj.spec.get('volumeName', '?')} no longer exists; "
            "the data is gone and the claim must be recreated",
        )
    event = latest_event(observed.events, _PENDING_EVENTS, (uid_of(obj),))
    if event is None:
        return result(observed, State.PROGRESSING, "Pending", "waiting for a volume to be bound")
    reason = str(event.body.get("reason"))
    message = event_message(event)
    if reason in _BLOCKING_EVENTS:
        return result(
            observed,
            State.BLOCKED,
            reason,
            message,
            event_time(event),
            cause_from_message(message, obj.ref.namespace),
        )
    return result(observed, State.PROGRESSING, reason, message, event_time(event))
