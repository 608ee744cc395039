"""HG125: an HPA whose metrics API the cluster does not serve, predicted before the deploy in
the words the HPA controller then uses (the sandbox, as many small clusters, runs no
metrics-server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.manifest import ObjectRef
from helmguard.preflight.findings import Severity
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until

from .clusterkit import run_check, write_chart

_TEMPLATES = {
    "app.yaml": """\
        {{- range list "web" "web-v1" }}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ . }}
        spec:
          replicas: 1
          selector: {matchLabels: {app: {{ . }}}}
          template:
            metadata: {labels: {app: {{ . }}}}
            spec:
              containers:
                - name: web
                  image: registry.example/web:1
                  resources: {requests: {cpu: 100m}}
        {{- end }}
        """,
    "hpa.yaml": """\
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata:
          name: web
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          minReplicas: 1
          maxReplicas: 3
          metrics:
            - type: Resource
              resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
            - type: External
              external:
                metric: {name: queue_depth}
                target: {type: AverageValue, averageValue: "5"}
        ---
        apiVersion: autoscaling/v1
        kind: HorizontalPodAutoscaler
        metadata:
          name: web-v1
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web-v1}
          maxReplicas: 3
        """,
    "metrics.yaml": """\
        {{- if .Values.registersMetrics }}
        apiVersion: apiregistration.k8s.io/v1
        kind: APIService
        metadata:
          name: v1beta1.metrics.k8s.io
        spec:
          group: metrics.k8s.io
          version: v1beta1
          service: {name: metrics-server, namespace: {{ .Release.Namespace }}}
          insecureSkipTLSVerify: true
          groupPriorityMinimum: 100
          versionPriority: 100
        {{- end }}
        """,
}


def _scaling_active(api: httpx.Client, ns: str, name: str) -> dict[str, Any] | None:
    hpa = api.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}")
    for cond in hpa.json().get("status", {}).get("conditions") or ():
        if cond["type"] == "ScalingActive" and cond["status"] == "False":
            return dict(cond)
    return None


def test_hpa_without_its_metrics_api_is_an_error_in_the_controllers_words(
    sandbox: Sandbox, namespace: str, admin_http: httpx.Client, tmp_path: Path
) -> None:
    chart = write_chart(tmp_path, "autoscaled", _TEMPLATES, "registersMetrics: false\n")
    report = run_check(sandbox, chart, namespace)
    found = sorted(
        (str(f.object), f.path, f.severity, f.message) for f in report.findings if f.code == "HG125"
    )
    hpa = f"HorizontalPodAutoscaler.autoscaling {namespace}/web"
    assert [(o, p, s) for o, p, s, _ in found] == [
        (hpa, "spec.metrics[0].type", Severity.ERROR),
        (hpa, "spec.metrics[1].type", Severity.ERROR),
        (f"{hpa}-v1", "spec.targetCPUUtilizationPercentage", Severity.ERROR),
    ], found
    assert "metrics.k8s.io, which the cluster does not serve" in found[0][3]
    assert "external.metrics.k8s.io" in found[1][3]
    resource = next(f for f in report.findings if f.path == "spec.metrics[0].type")
    assert resource.target == ObjectRef(
        "apiregistration.k8s.io", "APIService", "", "v1beta1.metrics.k8s.io"
    )

    # What the HPA controller then says, once the objects exist.
    rendered = render_chart(RenderRequest(str(chart), release="r1", namespace=namespace))
    for obj in rendered.objects:
        version = obj.api_version
        plural = "deployments" if obj.kind == "Deployment" else "horizontalpodautoscalers"
        made = admin_http.post(f"/apis/{version}/namespaces/{namespace}/{plural}", json=obj.body)
        assert made.status_code == 201, made.text
    cond = wait_until(
        lambda: _scaling_active(admin_http, namespace, "web-v1"), "the HPA controller's verdict", 60
    )
    assert cond["reason"] == "FailedGetResourceMetric", cond
    assert "could not find the requested resource" in cond["message"], cond
    assert "FailedGetResourceMetric (the server could not find the requested resource)" in (
        resource.predicted
    )

    # A chart that registers the metrics API itself: nothing to report for that group.
    report = run_check(sandbox, chart, namespace, set_values=("registersMetrics=true",))
    groups = sorted(f.path for f in report.findings if f.code == "HG125")
    assert groups == ["spec.metrics[1].type"], groups  # only the external metrics API
