"""Service: load balancer address, and ready endpoints when EndpointSlices are given."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result


def service(observed: Observed) -> ResourceStatus:
    """Rule for v1 Service.

    LoadBalancer without status.loadBalancer.ingress -> Progressing LoadBalancerPending
    (other tools call this ready); with EndpointSlices as children and a selector, no
    ready endpoint -> Progressing NoReadyEndpoints.
    """
    obj = observed.obj
    spec = obj.spec
    if spec.get("type") == "LoadBalancer":
        ingress = (obj.status.get("loadBalancer") or {}).get("ingress") or ()
        if not ingress:
            return result(
                observed,
                State.PROGRESSING,
                "LoadBalancerPending",
                "no load balancer address yet (status.loadBalancer.ingress is empty); "
                "it stays pending unless the cluster runs a load-balancer controller",
            )
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
    slices = [c for c in observed.children if c.kind == "EndpointSlice"]
    if spec.get("selector") and slices:
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
                "NoReadyEndpoints",
                f"no ready endpoints ({total} not ready); traffic to this Service fails",
            )
        return result(observed, State.READY, "Ready", f"{ready} of {total} endpoints ready")
    return result(observed, State.READY, "Ready", f"{spec.get('type') or 'ClusterIP'} service")
