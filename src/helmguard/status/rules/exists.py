"""Kinds with no status to judge (RBAC, NetworkPolicy, ConfigMap, ...): present is all."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.rules.common import result

EXISTS = "Exists"


def exists(observed: Observed) -> ResourceStatus:
    """Rule for kinds whose whole job is to exist: Ready "Exists" once observed.

    Their absence is decided before any rule runs (the member is Missing), so an object of
    such a kind is never left Unknown once its informer has listed.
    """
    kind = observed.obj.kind
    return result(observed, State.READY, EXISTS, f"{kind} exists")
