"""Namespace: Active, or Terminating with what holds it."""

from __future__ import annotations

from helmguard.status.fields import parse_time
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result


def namespace(observed: Observed) -> ResourceStatus:
    """Rule for v1 Namespace: phase Terminating -> Terminating, naming what is left."""
    obj = observed.obj
    if obj.status.get("phase") == "Terminating":
        held = [
            str(c.get("message"))
            for c in obj.status.get("conditions") or ()
            if c.get("status") == "True" and c.get("message")
        ]
        return result(
            observed,
            State.TERMINATING,
            "Terminating",
            "; ".join(held) or "namespace is being deleted",
            parse_time(obj.metadata.get("deletionTimestamp")),
        )
    return result(observed, State.READY, "Active", "namespace is active")
