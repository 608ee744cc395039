"""Truthful status: pure per-kind rules, the ownership tree, and aggregation. No I/O here.

observed = observe(deployment, build_ownership(objects), now, index_events(events))
status = evaluate(observed)
component = component_status(status, pod_statuses, dependency_statuses)
app = app_status([component, ...], other_statuses)
"""

from helmguard.status.aggregate import (
    AppStatus,
    app_status,
    component_status,
    missing,
    service_status,
    unknown,
    worst,
)
from helmguard.status.model import Observed, ResourceStatus, State
from helmguard.status.ownership import (
    Ownership,
    build_ownership,
    current_replicaset,
    index_events,
    observe,
    service_backends,
    status_children,
)
from helmguard.status.rules import RULES, evaluate
from helmguard.status.rules.pod import evaluate_pod

__all__ = [
    "RULES",
    "AppStatus",
    "Observed",
    "Ownership",
    "ResourceStatus",
    "State",
    "app_status",
    "build_ownership",
    "component_status",
    "current_replicaset",
    "evaluate",
    "evaluate_pod",
    "index_events",
    "missing",
    "observe",
    "service_backends",
    "service_status",
    "status_children",
    "unknown",
    "worst",
]
