"""Service and Ingress rules."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import edited
from status.kinds import obj, run

SVC = obj("Service")
SLICE = obj("EndpointSlice")
INGRESS = obj("Ingress")


def test_load_balancer_without_address_is_not_ready() -> None:
    st = run(SVC)
    assert (st.state, st.reason) == (State.PROGRESSING, "LoadBalancerPending")


def test_endpoints_without_ready_addresses() -> None:
    cluster_ip = edited(SVC, spec__type="ClusterIP")
    st = run(cluster_ip, [SLICE])
    assert (st.state, st.reason) == (State.PROGRESSING, "NoReadyEndpoints")
    ready = edited(SLICE, endpoints=[dict(SLICE.body["endpoints"][0], conditions={"ready": True})])
    assert run(cluster_ip, [ready]).state is State.READY
    assert run(cluster_ip).state is State.READY  # no slices given: nothing to judge


def test_load_balancer_with_address() -> None:
    up = edited(SVC, status__loadBalancer={"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]})
    assert run(up).state is State.READY


def test_ingress_waits_for_its_address() -> None:
    assert run(INGRESS).reason == "LoadBalancerPending"
    up = edited(INGRESS, status__loadBalancer={"ingress": [{"hostname": "lb.example.com"}]})
    st = run(up)
    assert (st.state, st.message) == (State.READY, "address lb.example.com")
