"""APIService: the aggregator's Available condition, the only proof the API answers."""

from __future__ import annotations

from helmguard.manifest import ObjectRef
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import cond_since, condition, is_true, result

# The backing Service does not exist: nothing heals it but creating the Service.
_BLOCKING = frozenset({"ServiceNotFound"})


def apiservice(observed: Observed) -> ResourceStatus:
    """Rule for apiregistration.k8s.io APIService.

    Available=True -> Ready; Available=False because the Service is absent -> Blocked on
    that Service; any other Available=False (no endpoints yet, discovery failing) ->
    Progressing with the aggregator's words; no Available condition yet -> Progressing.
    """
    obj = observed.obj
    svc = obj.spec.get("service") or {}
    backend = (
        ObjectRef("", "Service", str(svc.get("namespace") or ""), str(svc["name"]))
        if svc.get("name")
        else None
    )
    available = condition(obj.status, "Available")
    if is_true(available):
        return result(
            observed,
            State.READY,
            "Available",
            "the aggregated API answers" if backend else "served by the API server itself",
            cond_since(available),
        )
    if available is None:
        return result(
            observed,
            State.PROGRESSING,
            "NotObserved",
            "the API aggregator has not checked this APIService yet (no Available condition)",
            root_cause=backend,
        )
    reason = str(available.get("reason") or "NotAvailable")
    message = str(available.get("message") or f"Available={available.get('status')}")
    return result(
        observed,
        State.BLOCKED if reason in _BLOCKING else State.PROGRESSING,
        reason,
        f"{message}; until it is Available the group drops out of discovery",
        cond_since(available),
        backend,
    )
