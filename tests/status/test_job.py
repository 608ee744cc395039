"""Job and CronJob rules."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import at, edited, load, named
from status.kinds import obj, run

JOB = obj("Job")
CRONJOB = obj("CronJob")


def test_backoff_limit_exceeded_is_failed_with_its_message() -> None:
    st = run(JOB)
    assert (st.state, st.reason) == (State.FAILED, "BackoffLimitExceeded")
    assert st.message == "Job has reached the specified backoff limit"
    assert st.since == at("2025-06-01T10:01:10Z")


def test_running_complete_and_suspended() -> None:
    running = edited(JOB, status__conditions=[], status__active=1, status__failed=1)
    st = run(running)
    assert (st.state, st.reason) == (State.PROGRESSING, "Running")
    assert "1 failed (backoff limit 2)" in st.message
    complete = edited(
        JOB,
        status__succeeded=1,
        status__conditions=[
            {"type": "Complete", "status": "True", "reason": "CompletionsReached",
             "lastTransitionTime": "2025-06-01T10:00:09Z"}
        ],
    )  # fmt: skip
    assert (run(complete).state, run(complete).reason) == (State.READY, "Complete")
    suspended = edited(running, spec__suspend=True, status__active=0)
    assert (run(suspended).state, run(suspended).reason) == (State.READY, "Suspended")


def test_active_pod_trouble_counts_but_past_failed_attempts_do_not() -> None:
    pods = load("pods")
    running = edited(JOB, status__conditions=[], status__active=1)
    pull = named(pods, "Pod", "web-5d8f7c9b6-pullbackoff")
    assert run(running, [pull]).reason == "ImagePullBackOff"
    evicted = named(pods, "Pod", "web-5d8f7c9b6-evicted")
    assert run(running, [evicted]).state is State.PROGRESSING


def test_cronjob_reports_its_last_job() -> None:
    older = edited(
        JOB,
        metadata__name="report-29100000",
        metadata__creationTimestamp="2025-06-01T09:55:00Z",
        status__conditions=[{"type": "Complete", "status": "True"}],
    )
    last = edited(
        JOB, metadata__name="report-29100005", metadata__creationTimestamp="2025-06-01T10:00:00Z"
    )
    st = run(CRONJOB, [older, last])
    assert (st.state, st.reason, st.root_cause) == (State.FAILED, "LastJobFailed", last.ref)
    assert "BackoffLimitExceeded" in st.message
    fine = run(CRONJOB, [edited(last, status__conditions=[]), older])
    assert (fine.state, fine.reason) == (State.READY, "Scheduled")
    assert run(edited(CRONJOB, spec__suspend=True), [last]).reason == "Suspended"
