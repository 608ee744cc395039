"""Job: its terminal conditions, suspension, its running pods and FailedCreate."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import (
    cond_since,
    condition,
    create_failure,
    is_true,
    result,
)
from helmguard.status.rules.pod import pod_trouble


def job(observed: Observed) -> ResourceStatus:
    """Rule for batch/v1 Job.

    Failed (BackoffLimitExceeded, DeadlineExceeded, …; also FailureTarget, set before
    the pods are gone) -> Failed; Complete/SuccessCriteriaMet -> Ready; suspended ->
    Ready with reason Suspended (that is what was asked for).
    """
    obj = observed.obj
    status = obj.status
    for kind in ("Failed", "FailureTarget"):
        cond = condition(status, kind)
        if is_true(cond) and cond is not None:
            return result(
                observed,
                State.FAILED,
                str(cond.get("reason") or "JobFailed"),
                str(cond.get("message") or "job failed"),
                cond_since(cond),
            )
    for kind in ("Complete", "SuccessCriteriaMet"):
        cond = condition(status, kind)
        if is_true(cond):
            succeeded = status.get("succeeded") or 0
            return result(
                observed,
                State.READY,
                "Complete",
                f"{succeeded} pods succeeded",
                cond_since(cond),
            )
    suspended = condition(status, "Suspended")
    if is_true(suspended) or obj.spec.get("suspend"):
        return result(
            observed,
            State.READY,
            "Suspended",
            "job is suspended (spec.suspend); it starts pods when resumed",
            cond_since(suspended),
        )
    # Terminal pods are past attempts the backoff limit accounts for; running ones matter.
    pods = [
        c
        for c in observed.children
        if c.kind == "Pod" and (c.status.get("phase") not in ("Succeeded", "Failed"))
    ]
    trouble = pod_trouble(observed, pods)
    if trouble is not None:
        return trouble
    active = status.get("active") or 0
    if active == 0 and not status.get("ready"):
        failure = create_failure(observed)
        if failure is not None:
            return failure
    failed = status.get("failed") or 0
    backoff = obj.spec.get("backoffLimit", 6)
    completions = obj.spec.get("completions")
    succeeded = status.get("succeeded") or 0
    text = f"{active} active, {succeeded} succeeded" + (f" of {completions}" if completions else "")
    if failed:
        text += f", {failed} failed (backoff limit {backoff})"
    return result(observed, State.PROGRESSING, "Running", text)
