"""PersistentVolumeClaim rule."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import edited
from status.kinds import OBJECTS, obj, run

PVC = obj("PersistentVolumeClaim")
EVENT = next(o for o in OBJECTS if o.kind == "Event" and o.body["reason"] == "FailedBinding")


def test_pending_with_failed_binding_is_blocked_with_the_controllers_words() -> None:
    st = run(PVC, events=[EVENT])
    assert (st.state, st.reason) == (State.BLOCKED, "FailedBinding")
    assert "no storage class is set" in st.message


def test_wait_for_first_consumer_is_not_a_failure() -> None:
    wait = edited(
        EVENT,
        reason="WaitForFirstConsumer",
        message="waiting for first consumer to be created before binding",
    )
    st = run(PVC, events=[EVENT, edited(wait, lastTimestamp="2025-06-01T10:01:00Z")])
    assert (st.state, st.reason) == (State.PROGRESSING, "WaitForFirstConsumer")


def test_pending_without_evidence_bound_and_lost() -> None:
    assert run(PVC).state is State.PROGRESSING
    bound = edited(PVC, status__phase="Bound", spec__volumeName="pvc-0001")
    assert run(bound).state is State.READY
    lost = run(edited(bound, status__phase="Lost"))
    assert (lost.state, lost.reason) == (State.FAILED, "ClaimLost")
