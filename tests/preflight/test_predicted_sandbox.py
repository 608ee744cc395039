"""The cluster's words: what preflight predicts is what the real API server says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.manifest import ObjectRef
from helmguard.preflight.check import analyze_rendered
from helmguard.preflight.explain import predicted
from helmguard.preflight.findings import Severity
from helmguard.preflight.resolve import Existing, resource_of
from kubeapi import wait_until

SEED = Path(__file__).resolve().parents[2] / "examples" / "vault-seed"


def _exists(api: httpx.Client) -> Existing:
    """A cluster lookup for core-group objects, the way the cluster resolver will plug in."""

    def existing(ref: ObjectRef) -> bool | None:
        if ref.group:
            return None
        where = f"namespaces/{ref.namespace}/" if ref.namespace else ""
        status = api.get(f"/api/v1/{where}{resource_of(ref.kind)}/{ref.name}").status_code
        return {200: True, 404: False}.get(status)

    return existing


def _replica_failure(api: httpx.Client, ns: str) -> str | None:
    items: list[dict[str, Any]] = api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()[
        "items"
    ]
    for rs in items:
        for cond in rs.get("status", {}).get("conditions", []):
            if cond["type"] == "ReplicaFailure" and cond["status"] == "True":
                return str(cond["message"])
    return None


def test_seed_prediction_matches_the_replicaset_failure(
    admin_http: httpx.Client, namespace: str
) -> None:
    rendered = render_chart(
        RenderRequest(
            chart=str(SEED),
            release="common",
            namespace=namespace,
            values=ValuesOptions(set_values=("namespace.create=false",)),
        )
    )
    offline = analyze_rendered(rendered)
    (finding,) = offline.findings
    assert finding.code == "HG101" and finding.severity is Severity.WARNING

    live = analyze_rendered(rendered, existing=_exists(admin_http))
    (finding,) = live.findings
    assert finding.severity is Severity.ERROR

    deployment = next(o for o in rendered.objects if o.kind == "Deployment")
    created = admin_http.post(
        f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dict(deployment.body)
    )
    assert created.status_code == 201, created.text
    message = wait_until(lambda: _replica_failure(admin_http, namespace), "ReplicaFailure", 60)
    (ref,) = [r for r in live.refs if r.target.kind == "ServiceAccount"]
    said = (
        f"error looking up service account {namespace}/vault-svc: "
        'serviceaccount "vault-svc" not found'
    )
    assert said in message
    assert said in predicted(ref)

    sa = {"metadata": {"name": "vault-svc"}}
    assert (
        admin_http.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json=sa).status_code
        == 201
    )
    assert analyze_rendered(rendered, existing=_exists(admin_http)).findings == ()


def test_priority_class_prediction_matches_admission(
    admin_http: httpx.Client, namespace: str
) -> None:
    from helmguard.graph.refs import extract_refs
    from helmguard.manifest import K8sObject

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {
            "priorityClassName": "no-such-class",
            "containers": [{"name": "c", "image": "busybox:1.36"}],
        },
    }
    (ref,) = [r for r in extract_refs([K8sObject(pod)]) if r.target.kind == "PriorityClass"]
    answer = admin_http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod)
    assert answer.status_code == 403
    said = "no PriorityClass with name no-such-class was found"
    assert said in answer.json()["message"] and said in predicted(ref)
