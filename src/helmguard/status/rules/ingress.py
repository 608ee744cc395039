"""Ingress: whether the ingress controller has published an address."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result


def ingress(observed: Observed) -> ResourceStatus:
    """Rule for networking.k8s.io/v1 Ingress: Ready once status.loadBalancer.ingress is set."""
    entries = (observed.obj.status.get("loadBalancer") or {}).get("ingress") or ()
    if not entries:
        return result(
            observed,
            State.PROGRESSING,
            "LoadBalancerPending",
            "no address yet (status.loadBalancer.ingress is empty); "
            "the ingress controller for its class has not admitted it",
        )
    addresses = ", ".join(str(e.get("ip") or e.get("hostname")) for e in entries)
    return result(observed, State.READY, "Ready", f"address {addresses}")
