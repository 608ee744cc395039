"""DaemonSet rule: misscheduled, unavailable, rolling update."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import edited
from status.kinds import obj, run

DS = obj("DaemonSet")


def test_available_everywhere_is_ready() -> None:
    assert run(DS).state is State.READY


def test_misscheduled_is_not_ready() -> None:
    st = run(edited(DS, status__numberMisscheduled=1))
    assert (st.state, st.reason) == (State.PROGRESSING, "Misscheduled")


def test_unavailable_is_progressing() -> None:
    st = run(edited(DS, status__numberAvailable=0, status__numberUnavailable=1))
    assert (st.state, st.reason) == (State.PROGRESSING, "Unavailable")
    assert "1 of 1" in st.message


def test_update_not_rolled_out_and_generation_lag() -> None:
    assert run(edited(DS, status__updatedNumberScheduled=0)).reason == "RollingOut"
    assert run(edited(DS, metadata__generation=2)).reason == "ObservedGenerationLag"


def test_no_matching_node() -> None:
    empty = edited(DS, status__desiredNumberScheduled=0, status__currentNumberScheduled=0,
                   status__numberAvailable=0, status__updatedNumberScheduled=0)  # fmt: skip
    assert run(empty, nodes=[]).reason == "NoNodes"
    assert run(empty).state is State.UNKNOWN  # nodes not known: "no node" is not proven
