"""Ingress: whether the ingress controller has published an address."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result
from helmguard.status.rules.service import LOAD_BALANCER_PENDING


def ingress(observed: Observed) -> ResourceStatus:
    """Rule for networking.k8s.io/v1 Ingress: Ready once status.loadBalancer.ingress is set."""
    entries = (observed.obj.status.get("loadBalancer") or {}).get("ingress") or ()
    if not entries:
        obj = observed.obj
        named = obj.spec.get("ingressClassName") or obj.annotations.get(
            "kubernetes.io/ingress.class"
        )
        which = f"class {named}" if named else "the default class (none named)"
        return result(
            observed,
            State.PROGRESSING,
            LOAD_BALANCER_PENDING,
            "no address yet (status.loadBalancer.ingress is empty); "
            f"no ingress controller for {which} has admitted it",
        )
    addresses = ", ".join(str(e.get("ip") or e.get("hostname")) for e in entries)
    return result(observed, State.READY, "Ready", f"address {addresses}")
