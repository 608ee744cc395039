"""The failure helmguard exists for, reproduced on the real control plane.

A Deployment whose pod template names a ServiceAccount that does not exist is accepted;
the ReplicaSet controller's pod creations are then refused by the ServiceAccount
admission plugin, which Kubernetes reports only as a ReplicaSet condition and an Event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from helmguard.sandbox.cluster import NODE_NAMES
from kubeapi import create_namespace, delete_namespace, wait_until

NAMESPACE = "msga-cn"


def _deployment(service_account: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "vault", "app.kubernetes.io/instance": "common"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "common-vault", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": service_account,
                    "containers": [{"name": "vault", "image": "hashicorp/vault:1.17"}],
                },
            },
        },
    }


@pytest.fixture
def msga_cn(admin_http: httpx.Client) -> Iterator[str]:
    """The seed scenario's namespace, created fresh and fully deleted afterwards."""
    if admin_http.get(f"/api/v1/namespaces/{NAMESPACE}").status_code == 200:
        delete_namespace(admin_http, NAMESPACE, wait=True)
    create_namespace(admin_http, NAMESPACE)
    yield NAMESPACE
    delete_namespace(admin_http, NAMESPACE, wait=True)


def _replica_sets(api: httpx.Client, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()[
        "items"
    ]
    return items


def test_missing_service_account_fails_pod_creation(admin_http: httpx.Client, msga_cn: str) -> None:
    created = admin_http.post(
        f"/apis/apps/v1/namespaces/{msga_cn}/deployments", json=_deployment("vault-svc")
    )
    # The Deployment itself is accepted: nothing checks the ServiceAccount at this point.
    assert created.status_code == 201, created.text

    def replica_failure() -> dict[str, Any] | None:
        for rs in _replica_sets(admin_http, msga_cn):
            for cond in rs.get("status", {}).get("conditions", []):
                if cond["type"] == "ReplicaFailure" and cond["status"] == "True":
                    return dict(cond)
        return None

    cond = wait_until(replica_failure, "the ReplicaSet's ReplicaFailure condition")
    assert cond["reason"] == "FailedCreate"
    assert "error looking up service account msga-cn/vault-svc" in cond["message"]
    assert 'serviceaccount "vault-svc" not found' in cond["message"]
    assert cond["message"].startswith('pods "common-vault-')

    def failed_create_event() -> dict[str, Any] | None:
        events = admin_http.get(f"/apis/events.k8s.io/v1/namespaces/{msga_cn}/events").json()
        for event in events["items"]:
            if event.get("reason") == "FailedCreate" and event["regarding"]["kind"] == "ReplicaSet":
                return dict(event)
        return None

    event = wait_until(failed_create_event, "a FailedCreate Event on the ReplicaSet")
    assert event["type"] == "Warning"
    assert "error looking up service account msga-cn/vault-svc" in event["note"]
    # And no pod exists at all: the component would be "starting" forever.
    assert admin_http.get(f"/api/v1/namespaces/{msga_cn}/pods").json()["items"] == []


def test_existing_service_account_becomes_available(admin_http: httpx.Client, msga_cn: str) -> None:
    sa = admin_http.post(
        f"/api/v1/namespaces/{msga_cn}/serviceaccounts", json={"metadata": {"name": "vault-svc"}}
    )
    assert sa.status_code == 201, sa.text
    created = admin_http.post(
        f"/apis/apps/v1/namespaces/{msga_cn}/deployments", json=_deployment("vault-svc")
    )
    assert created.status_code == 201, created.text

    def available() -> dict[str, Any] | None:
        dep = admin_http.get(f"/apis/apps/v1/namespaces/{msga_cn}/deployments/common-vault")
        body: dict[str, Any] = dep.json()
        status = body.get("status", {})
        conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conds.get("Available") == "True" and status.get("readyReplicas") == 2:
            return body
        return None

    wait_until(available, "Deployment common-vault to be Available with 2 ready pods", 60)
    pods = admin_http.get(f"/api/v1/namespaces/{msga_cn}/pods").json()["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["serviceAccountName"] == "vault-svc"
        assert pod["spec"]["nodeName"] in NODE_NAMES  # bound by the real scheduler
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
