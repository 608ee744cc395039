"""DaemonSet: pods, FailedCreate, misscheduled pods, unavailable and not-yet-updated nodes."""

from __future__ import annotations

from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.nodes import daemon_nodes
from helmguard.status.rules.common import (
    NO_MATCHING_NODES,
    NO_NODES,
    children_of_kind,
    create_failure,
    lagging,
    result,
)
from helmguard.status.rules.pod import pod_trouble


def daemonset(observed: Observed) -> ResourceStatus:
    """Rule for apps/v1 DaemonSet: Ready when every desired node runs an available, updated pod.

    Zero desired nodes is Ready only when the nodes show that none may run its pods.
    """
    obj = observed.obj
    status = obj.status
    lag = lagging(observed)
    if lag is not None:
        return lag
    trouble = pod_trouble(observed, children_of_kind(observed, "Pod"))
    if trouble is not None:
        return trouble

    desired = status.get("desiredNumberScheduled") or 0
    scheduled = status.get("currentNumberScheduled") or 0
    available = status.get("numberAvailable") or 0
    updated = status.get("updatedNumberScheduled") or 0
    misscheduled = status.get("numberMisscheduled") or 0
    if scheduled < desired or available < desired:
        failure = create_failure(observed)
        if failure is not None:
            return failure
    if misscheduled:
        return result(
            observed,
            State.PROGRESSING,
            "Misscheduled",
            f"{misscheduled} daemon pods run on nodes that should not run them",
        )
    on_delete = (obj.spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    if updated < desired and not on_delete:
        return result(
            observed, State.PROGRESSING, "RollingOut", f"{updated} of {desired} nodes updated"
        )
    if available < desired:
        unavailable = status.get("numberUnavailable") or desired - available
        return result(
            observed,
            State.PROGRESSING,
            "Unavailable",
            f"{unavailable} of {desired} daemon pods unavailable",
        )
    if desired == 0:
        return _no_desired_node(observed)
    return result(observed, State.READY, "Ready", f"{available} of {desired} daemon pods available")


_SHOWN = 3


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _no_desired_node(observed: Observed) -> ResourceStatus:
    """The controller wants no pod: Ready if no node may run one (saying why), else not yet."""
    nodes = observed.nodes
    if nodes is None:
        return result(
            observed,
            State.UNKNOWN,
            "NodesUnknown",
            "the controller places its pods on no node, and the Nodes could not be read "
            "to tell whether none matches",
        )
    if not nodes:
        return result(observed, State.READY, NO_NODES, "the cluster has no nodes")
    template = observed.obj.spec.get("template") or {}
    fitting, excluded = daemon_nodes(template.get("spec") or {}, nodes)
    if fitting:
        return result(
            observed,
            State.PROGRESSING,
            "NodesNotYetScheduled",
            f"{len(fitting)} of {len(nodes)} nodes may run its pods "
            f"({_names([n.name for n in fitting])}) but the controller reports 0 desired",
        )
    reasons = "; ".join(
        f"{why} excludes {_names(names)}" for why, names in sorted(excluded.items())
    )
    return result(
        observed,
        State.READY,
        NO_MATCHING_NODES,
        f"no node may run its pods (0 of {len(nodes)}): {reasons}",
    )
