"""HG125: HPAs whose metrics come from an API the cluster does not serve.

An HPA on CPU or memory (the default when it names no metric) reads `metrics.k8s.io`
(metrics-server); Pods and Object metrics read `custom.metrics.k8s.io`, External ones
`external.metrics.k8s.io` (an adapter). Without it the HPA controller reports
FailedGet…Metric ("the server could not find the requested resource") and never scales;
a chart that registers the APIService itself is not flagged, one registered but not
available is a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

from helmguard.kube.discovery import ServedResources
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.preflight.findings import Finding, Severity

# Where an HPA's metrics come from, by metric type (the HPA controller's REST clients).
_METRICS_GROUPS = {
    "Resource": "metrics.k8s.io",
    "ContainerResource": "metrics.k8s.io",
    "Pods": "custom.metrics.k8s.io",
    "Object": "custom.metrics.k8s.io",
    "External": "external.metrics.k8s.io",
}


def _metrics_needed(obj: K8sObject) -> list[tuple[str, str, str]]:
    """(field path, metric type, API group) of every metric an HPA reads; an HPA naming none
    scales on CPU (the controller's default), which the resource metrics API gives."""
    if (obj.ref.group, obj.kind) != ("autoscaling", "HorizontalPodAutoscaler"):
        return []
    if obj.api_version == "autoscaling/v1":
        return [("spec.targetCPUUtilizationPercentage", "Resource", "metrics.k8s.io")]
    metrics = obj.spec.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return [("spec.metrics", "Resource", "metrics.k8s.io")]
    out = []
    for i, metric in enumerate(metrics):
        kind = str((metric or {}).get("type"))
        if kind in _METRICS_GROUPS:
            out.append((f"spec.metrics[{i}].type", kind, _METRICS_GROUPS[kind]))
    return out


def metrics_findings(objects: Sequence[K8sObject], served: ServedResources) -> list[Finding]:
    """HPAs whose metrics API the cluster does not serve (and the chart does not register)."""
    registered = {
        str(o.spec.get("group"))
        for o in objects
        if (o.ref.group, o.kind) == ("apiregistration.k8s.io", "APIService")
    }
    out: list[Finding] = []
    for obj in objects:
        for path, kind, group in _metrics_needed(obj):
            down = [gv for gv in served.unavailable if gv.startswith(f"{group}/")]
            if group in served.preferred_versions or group in registered or down:
                if down:
                    out.append(
                        Finding.make(
                            "HG125",
                            Severity.WARNING,
                            obj.ref,
                            path,
                            f"the HPA reads {group}, which is registered but not available "
                            f"now ({served.unavailable[down[0]]})",
                            f"the HPA reports FailedGet{kind}Metric and does not scale until "
                            "the API answers",
                            f"check the APIService of {group} and the server behind it",
                            source=obj.source,
                        )
                    )
                continue
            provider = "metrics-server" if group == "metrics.k8s.io" else "a metrics adapter"
            out.append(
                Finding.make(
                    "HG125",
                    Severity.ERROR,
                    obj.ref,
                    path,
                    f"the HPA reads {group}, which the cluster does not serve (no "
                    f"{provider} is installed)",
                    f"the HPA reports FailedGet{kind}Metric (the server could not find the "
                    f"requested resource) and never scales",
                    f"install {provider} (it registers {group}), or disable the chart's "
                    "autoscaling",
                    source=obj.source,
                    target=ObjectRef(
                        "apiregistration.k8s.io", "APIService", "", f"v1beta1.{group}"
                    ),
                )
            )
    return out
