"""Any other kind: the Ready/Stalled/Reconciling condition conventions and observedGeneration."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    cond_since,
    condition,
    is_true,
    lagging,
    result,
)


def generic(observed: Observed) -> ResourceStatus:
    """Rule for kinds without their own: kstatus conventions.

    Stalled=True or Failed=True -> Failed; Reconciling=True, Ready=False or a lagging
    observedGeneration -> Progressing; otherwise Ready (objects without status are
    Ready once they exist).
    """
    obj = observed.obj
    status = obj.status
    if not status:
        # A PodDisruptionBudget (or another kind its controller must observe) has no status yet.
        return lagging(observed) or result(observed, State.READY, "Exists", f"{obj.kind} exists")
    for kind in ("Stalled", "Failed"):
        cond = condition(status, kind)
        if is_true(cond) and cond is not None:
            return result(
                observed,
                State.FAILED,
                str(cond.get("reason") or kind),
                str(cond.get("message") or kind),
                cond_since(cond),
            )
    lag = lagging(observed)
    if lag is not None:
        return lag
    reconciling = condition(status, "Reconciling")
    if is_true(reconciling) and reconciling is not None:
        return result(
            observed,
            State.PROGRESSING,
            str(reconciling.get("reason") or "Reconciling"),
            str(reconciling.get("message") or "reconciling"),
            cond_since(reconciling),
        )
    ready = condition(status, "Ready")
    # Ready=False and Ready=Unknown both mean "not yet"; only Stalled says it gave up.
    if ready is not None and not is_true(ready):
        return result(
            observed,
            State.PROGRESSING,
            str(ready.get("reason") or "NotReady"),
            str(ready.get("message") or "Ready condition is not True"),
            cond_since(ready),
        )
    if ready is not None:
        return result(
            observed,
            State.READY,
            str(ready.get("reason") or "Ready"),
            str(ready.get("message") or "ready"),
            cond_since(ready),
        )
    return result(observed, State.READY, "Current", f"{obj.kind} is current")
