"""Service and Ingress rules."""

from __future__ import annotations

from helmguard.status import State
from status.helpers import edited
from status.kinds import obj, run

SVC = obj("Service")
SLICE = obj("EndpointSlice")
INGRESS = obj("Ingress")


READY_SLICE = edited(
    SLICE, endpoints=[dict(SLICE.body["endpoints"][0], conditions={"ready": True})]
)


def test_load_balancer_without_address_is_not_ready() -> None:
    st = run(SVC, [READY_SLICE])
    assert (st.state, st.reason) == (State.PROGRESSING, "LoadBalancerPending")
    assert "no load-balancer controller has assigned an address" in st.message
    assert "1 of 1 endpoints ready" in st.message


def test_endpoints_come_before_the_load_balancer() -> None:
    # Not waiting for an address must not mean not waiting for the pods behind it.
    st = run(SVC, [SLICE])
    assert (st.state, st.reason) == (State.PROGRESSING, "NoReadyEndpoints")


def test_endpoints_without_ready_addresses() -> None:
    cluster_ip = edited(SVC, spec__type="ClusterIP")
    st = run(cluster_ip, [SLICE])
    assert (st.state, st.reason) == (State.PROGRESSING, "NoReadyEndpoints")
    assert "selector app=web" in st.message
    assert run(cluster_ip, [READY_SLICE]).state is State.READY


def test_selector_without_endpoint_slice_is_not_judged_ready() -> None:
    # Right after creation the endpoint-slice controller has not published anything yet.
    st = run(edited(SVC, spec__type="ClusterIP"))
    assert (st.state, st.reason) == (State.PROGRESSING, "NoEndpointSlice")
    headless = edited(SVC, spec__type="ClusterIP", spec__selector=None)
    assert run(headless).state is State.READY  # no selector: nobody publishes endpoints
    external = edited(SVC, spec__type="ExternalName", spec__externalName="db.example.com")
    assert run(external).state is State.READY


def test_load_balancer_with_address() -> None:
    up = edited(SVC, status__loadBalancer={"ingress": [{"ip": "192.0.2.10", "ipMode": "VIP"}]})
    assert run(up, [READY_SLICE]).state is State.READY


def test_load_balancer_port_error_is_blocked() -> None:
    port = {"port": 80, "protocol": "TCP", "error": "QuotaExceeded"}
    broken = edited(SVC, status__loadBalancer={"ingress": [{"ip": "192.0.2.10", "ports": [port]}]})
    st = run(broken, [READY_SLICE])
    assert (st.state, st.reason) == (State.BLOCKED, "QuotaExceeded")


def test_ingress_waits_for_its_address() -> None:
    assert run(INGRESS).reason == "LoadBalancerPending"
    up = edited(INGRESS, status__loadBalancer={"ingress": [{"hostname": "lb.example.com"}]})
    st = run(up)
    assert (st.state, st.message) == (State.READY, "address lb.example.com")
