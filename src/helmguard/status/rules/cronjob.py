"""CronJob: the outcome of its most recent Job."""

from __future__ import annotations

from helmguard.status.fields import parse_time
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import cond_since, condition, is_true, result


def cronjob(observed: Observed) -> ResourceStatus:
    """Rule for batch/v1 CronJob: Failed when its latest Job failed, else Ready."""
    obj = observed.obj
    schedule = obj.spec.get("schedule", "?")
    if obj.spec.get("suspend"):
        return result(observed, State.READY, "Suspended", f"schedule {schedule} is suspended")
    jobs = [c for c in observed.children if c.kind == "Job"]
    if jobs:
        last = max(
            jobs,
            key=lambda j: (j.metadata.get("creationTimestamp") or "", j.name),
        )
        failed = condition(last.status, "Failed")
        if is_true(failed) and failed is not None:
            return result(
                observed,
                State.FAILED,
                "LastJobFailed",
                f"job {last.name} failed: {failed.get('reason')}: {failed.get('message')}",
                cond_since(failed),
                last.ref,
            )
    last_run = obj.status.get("lastScheduleTime")
    return result(
        observed,
        State.READY,
        "Scheduled",
        f"schedule {schedule}; last run {last_run or 'never'}",
        parse_time(obj.status.get("lastSuccessfulTime")),
    )
