"""Label selectors (Service, PodDisruptionBudget, NetworkPolicy) that match no pod of the chart.

Kubernetes accepts a selector that matches nothing and says nothing: a Service with no
endpoints, a budget that protects no pod, a policy that isolates no pod. Operators and
other releases also make pods, so this is a warning only where the chart plainly owns
the pods of that namespace, and info otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from helmguard.kube.kinds import BUILTIN_GROUPS
from helmguard.manifest import K8sObject
from helmguard.preflight.findings import Finding, Severity

# Where each workload kind keeps its pod template's labels.
_POD_LABELS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("metadata", "labels"),
    "Deployment": ("spec", "template", "metadata", "labels"),
    "StatefulSet": ("spec", "template", "metadata", "labels"),
    "DaemonSet": ("spec", "template", "metadata", "labels"),
    "ReplicaSet": ("spec", "template", "metadata", "labels"),
    "ReplicationController": ("spec", "template", "metadata", "labels"),
    "Job": ("spec", "template", "metadata", "labels"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
}


def _dig(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def matches(selector: Mapping[str, Any], labels: Mapping[str, Any], *, plain: bool) -> bool:
    """Kubernetes label-selector semantics; `plain` for a Service's map-only selector."""
    match_labels = selector if plain else selector.get("matchLabels") or {}
    for key, value in match_labels.items():
        if str(labels.get(key)) != str(value) or key not in labels:
            return False
    if plain:
        return True
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = {str(v) for v in expr.get("values") or []}
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_findings(objects: Iterable[K8sObject]) -> list[Finding]:
    """HG124 for each selector that matches no pod template of the chart in its namespace."""
    objs = list(objects)
    pods: dict[str, list[Mapping[str, Any]]] = {}
    operated: set[str] = set()  # namespaces where custom resources may make pods of their own
    for obj in objs:
        path = _POD_LABELS.get(obj.kind)
        if path is not None:
            labels = _dig(obj.body, path)
            pods.setdefault(obj.namespace, []).append(labels if isinstance(labels, dict) else {})
        elif obj.ref.group not in BUILTIN_GROUPS:
            operated.add(obj.namespace)
    out: list[Finding] = []
    for obj in objs:
        spec = obj.spec
        if obj.kind == "Service" and not obj.ref.group:
            selector, field, plain = spec.get("selector"), "spec.selector", True
        elif obj.kind == "PodDisruptionBudget" and obj.ref.group == "policy":
            selector, field, plain = spec.get("selector"), "spec.selector", False
        elif obj.kind == "NetworkPolicy" and obj.ref.group == "networking.k8s.io":
            selector, field, plain = spec.get("podSelector"), "spec.podSelector", False
        else:
            continue
        # No selector, or an empty one, selects nothing on purpose (Service) or everything.
        if not isinstance(selector, dict) or not selector:
            continue
        candidates = pods.get(obj.namespace, [])
        if any(matches(selector, labels, plain=plain) for labels in candidates):
            continue
        owned = bool(candidates) and obj.namespace not in operated
        shown = ", ".join(
            f"{k}={v}"
            for k, v in (selector if plain else selector.get("matchLabels") or {}).items()
        )
        out.append(
            Finding.make(
                "HG124",
                Severity.WARNING if owned else Severity.INFO,
                obj.ref,
                field,
                f"{obj.kind} {obj.name} selects pods ({shown or 'by expression'}) "
                "that no workload in the chart creates",
                _silently(obj.kind),
                f"make {field} match the labels of the pods it is meant for",
                source=obj.source,
            )
        )
    return out


def _silently(kind: str) -> str:
    if kind == "Service":
        return "accepted silently; the Service has no endpoints and connections fail"
    if kind == "PodDisruptionBudget":
        return "accepted silently; the budget protects no pod during drains"
    return "accepted silently; the policy isolates no pod"
