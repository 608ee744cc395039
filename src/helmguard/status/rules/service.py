"""Service: load-balancer port errors, ready endpoints, then the load balancer's address."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result

# A LoadBalancer Service nobody has given an address: a deploy reports it, waits only if asked.
LOAD_BALANCER_PENDING = "LoadBalancerPending"
# No endpoint is ready: the workloads behind the selector decide what that means.
NO_READY_ENDPOINTS = "NoReadyEndpoints"


def service(observed: Observed) -> ResourceStatus:
    """Rule for v1 Service.

    Load-balancer port errors -> Blocked; a selector with no EndpointSlice yet ->
    Progressing (the endpoint-slice controller has not seen it); slices without a ready
    endpoint -> Progressing NoReadyEndpoints; then a LoadBalancer without
    status.loadBalancer.ingress -> Progressing LoadBalancerPending (other tools call
    this ready); otherwise Ready.
    """
    obj = observed.obj
    spec = obj.spec
    kind = spec.get("type") or "ClusterIP"
    ingress = (obj.status.get("loadBalancer") or {}).get("ingress") or ()
    for entry in ingress:
        for port in entry.get("ports") or ():
            if port.get("error"):
                return result(
                    observed,
                    State.BLOCKED,
                    str(port["error"]),
                    f"load balancer port {port.get('port')}/{port.get('protocol')}: "
                    f"{port['error']}",
                )
    selector = spec.get("selector") or {}
    endpoints = ""
    if selector and kind != "ExternalName":
        slices = [c for c in observed.children if c.kind == "EndpointSlice"]
        wanted = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        if not slices:
            return result(
                observed,
                State.PROGRESSING,
                "NoEndpointSlice",
                f"the endpoint-slice controller has not published endpoints for selector "
                f"{wanted} yet",
            )
        total = 0
        ready = 0
        for endpoint_slice in slices:
            for endpoint in endpoint_slice.body.get("endpoints") or ():
                total += 1
                if (endpoint.get("conditions") or {}).get("ready") is not False:
                    ready += 1
        if ready == 0:
            return result(
                observed,
                State.PROGRESSING,
                NO_READY_ENDPOINTS,
                f"no ready endpoints ({total} not ready) for selector {wanted}; "
                "traffic to this Service fails",
            )
        endpoints = f"{ready} of {total} endpoints ready"
    if kind == "LoadBalancer" and not ingress:
        return result(
            observed,
            State.PROGRESSING,
            LOAD_BALANCER_PENDING,
            "no load-balancer controller has assigned an address "
            "(status.loadBalancer.ingress is empty)" + (f"; {endpoints}" if endpoints else ""),
        )
    return result(observed, State.READY, "Ready", endpoints or f"{kind} service")
