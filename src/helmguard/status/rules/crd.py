"""CustomResourceDefinition: NamesAccepted and Established."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import cond_since, condition, is_false, is_true, result


def crd(observed: Observed) -> ResourceStatus:
    """Rule for apiextensions.k8s.io CRD: a name conflict is Failed (it needs a new name)."""
    status = observed.obj.status
    names = condition(status, "NamesAccepted")
    if is_false(names) and names is not None:
        return result(
            observed,
            State.FAILED,
            str(names.get("reason") or "NamesNotAccepted"),
            str(names.get("message") or "names not accepted"),
            cond_since(names),
        )
    established = condition(status, "Established")
    if is_true(established):
        return result(
            observed,
            State.READY,
            "Established",
            "the API serves this kind",
            cond_since(established),
        )
    if established is not None:
        return result(
            observed,
            State.PROGRESSING,
            str(established.get("reason") or "NotEstablished"),
            str(established.get("message") or "not yet established"),
            cond_since(established),
        )
    return result(
        observed, State.PROGRESSING, "NotEstablished", "the API server has not established it yet"
    )
