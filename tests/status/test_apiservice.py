"""APIService: recorded from the sandbox, a built-in (Local) one and one whose Service is absent."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import edited, load
from status.kinds import run

SERVICES = {o.name: o for o in load("apiservices")}
LOCAL = SERVICES["v1.apps"]
BROKEN = next(o for n, o in SERVICES.items() if n != "v1.apps")


def test_local_apiservice_is_ready() -> None:
    st = run(LOCAL)
    assert (st.state, st.reason) == (State.READY, "Available")


def test_missing_service_blocks_on_that_service() -> None:
    st = run(BROKEN)
    assert (st.state, st.reason) == (State.BLOCKED, "ServiceNotFound")
    svc = BROKEN.spec["service"]
    assert st.root_cause is not None
    assert (st.root_cause.kind, st.root_cause.namespace, st.root_cause.name) == (
        "Service",
        svc["namespace"],
        svc["name"],
    )
    assert "drops out of discovery" in st.message


def test_not_yet_available_is_progressing() -> None:
    cond = {"type": "Available", "status": "False", "reason": "MissingEndpoints",
            "message": "endpoints for service/metrics-api have no addresses"}  # fmt: skip
    st = run(edited(BROKEN, status__conditions=[cond]))
    assert (st.state, st.reason) == (State.PROGRESSING, "MissingEndpoints")
    assert run(edited(BROKEN, status={})).reason == "NotObserved"
