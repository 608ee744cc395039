"""Charts shaped for a real multi-node, multi-zone cluster deploy as they would on one.

The sandbox has three Nodes in three zones and a default StorageClass bound by a real
provisioner (see helmguard.sandbox.cluster); these charts (tests/deploy/charts/storage and
placement) use claims, StatefulSet volumeClaimTemplates, required pod anti-affinity, zone
spread constraints, ephemeral-storage requests and a DaemonSet, and the scheduler, the
volume controllers and kwok decide everything. What cannot fit is reported Blocked at once.
"""
# ruff: noqa: ASYNC212 - the sync admin client only inspects the cluster between awaited steps

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, deploy
from helmguard.sandbox.cluster import NODE_NAMES, PROVISIONER, STORAGE_CLASS, ZONES, Sandbox

CHARTS = Path(__file__).parent / "charts"


def _request(chart: str, release: str, namespace: str, *sets: str) -> RenderRequest:
    return RenderRequest(
        chart=str(CHARTS / chart),
        release=release,
        namespace=namespace,
        values=ValuesOptions(set_values=sets),
    )


def _options(sandbox: Sandbox) -> DeployOptions:
    return DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90)


def _items(api: httpx.Client, path: str, selector: str = "") -> list[dict[str, Any]]:
    reply = api.get(path, params={"labelSelector": selector} if selector else None)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def _zone_of(api: httpx.Client) -> dict[str, str]:
    return {
        node["metadata"]["name"]: node["metadata"]["labels"].get("topology.kubernetes.io/zone", "")
        for node in _items(api, "/api/v1/nodes")
    }


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def test_claims_and_volume_claim_templates_are_bound_and_ready(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    started = time.monotonic()
    result = await deploy(_request("storage", "st", namespace), _options(sandbox))
    elapsed = time.monotonic() - started
    assert result.outcome == "deployed", result.message
    print(f"storage chart deployed Ready in {elapsed:.1f}s")

    claims = _items(admin_http, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")
    by_name = {c["metadata"]["name"]: c for c in claims}
    assert sorted(by_name) == ["data-st-db-0", "data-st-db-1", "data-st-db-2", "st-uploads"]
    for name, claim in by_name.items():
        # No class in the chart: the DefaultStorageClass admission plugin filled it in.
        assert claim["spec"]["storageClassName"] == STORAGE_CLASS, name
        assert claim["status"]["phase"] == "Bound", (name, claim["status"])
        pv = admin_http.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}").json()
        assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
        assert pv["spec"]["claimRef"]["name"] == name
        want = "1Gi" if name == "st-uploads" else "2Gi"
        assert pv["spec"]["capacity"]["storage"] == want
        assert sandbox.volume_path(pv["spec"]["hostPath"]["path"]).is_dir()

    pods = _items(admin_http, f"/api/v1/namespaces/{namespace}/pods")
    assert len(pods) == 4 and all(_ready(p) for p in pods), [p["status"] for p in pods]
    assert {p["spec"]["nodeName"] for p in pods} <= set(NODE_NAMES)


async def test_anti_affinity_spread_ephemeral_storage_and_a_daemonset_are_ready(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    started = time.monotonic()
    result = await deploy(_request("placement", "pl", namespace), _options(sandbox))
    elapsed = time.monotonic() - started
    assert result.outcome == "deployed", result.message
    print(f"placement chart deployed Ready in {elapsed:.1f}s")

    zone = _zone_of(admin_http)
    pods_path = f"/api/v1/namespaces/{namespace}/pods"
    web = _items(admin_http, pods_path, "app.kubernetes.io/name=web")
    assert sorted(p["spec"]["nodeName"] for p in web) == sorted(NODE_NAMES)  # one per node
    api = _items(admin_http, pods_path, "app.kubernetes.io/name=api")
    assert sorted(zone[p["spec"]["nodeName"]] for p in api) == sorted(ZONES)  # one per zone
    assert all(
        p["spec"]["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "2Gi"
        for p in api
    )
    agents = _items(admin_http, pods_path, "app.kubernetes.io/name=agent")
    assert sorted(p["spec"]["nodeName"] for p in agents) == sorted(NODE_NAMES)
    ds = admin_http.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/pl-agent").json()
    assert ds["status"]["desiredNumberScheduled"] == len(NODE_NAMES)
    assert ds["status"]["numberReady"] == len(NODE_NAMES)
    assert all(_ready(p) for p in web + api + agents)


def _unschedulable(api: httpx.Client, namespace: str, selector: str) -> list[str]:
    """The PodScheduled=False messages of the pods matching `selector`."""
    messages = []
    for pod in _items(api, f"/api/v1/namespaces/{namespace}/pods", selector):
        for cond in pod.get("status", {}).get("conditions", []):
            if cond["type"] == "PodScheduled" and cond["status"] == "False":
                assert cond["reason"] == "Unschedulable", cond
                messages.append(cond["message"])
    return messages


async def test_more_replicas_than_nodes_under_required_anti_affinity_is_blocked(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    started = time.monotonic()
    result = await deploy(
        _request("placement", "pl", namespace, "web.replicas=4"), _options(sandbox)
    )
    elapsed = time.monotonic() - started
    assert result.outcome == "failed", result.message
    assert result.message.startswith(f"Blocked: Deployment.apps {namespace}/pl-web"), result.message
    assert "Unschedulable" in result.message
    assert "3 node(s) didn't match pod anti-affinity rules" in result.message
    assert elapsed < 45, elapsed  # reported, not waited out: the budget is 90 s
    print(f"Blocked reported after {elapsed:.1f}s: {result.message}")
    web = _items(admin_http, f"/api/v1/namespaces/{namespace}/pods", "app.kubernetes.io/name=web")
    placed = sorted(p["spec"].get("nodeName", "") for p in web)
    assert placed == ["", *sorted(NODE_NAMES)]  # three placed, one per node; one pending
    assert len(_unschedulable(admin_http, namespace, "app.kubernetes.io/name=web")) == 1


async def test_an_ephemeral_storage_request_larger_than_any_node_is_blocked(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    big = ("api.resources.requests.ephemeral-storage=200Gi", "api.resources.limits=null")
    result = await deploy(_request("placement", "pl", namespace, *big), _options(sandbox))
    assert result.outcome == "failed", result.message
    assert result.message.startswith(f"Blocked: Deployment.apps {namespace}/pl-api"), result.message
    assert "3 Insufficient ephemeral-storage" in result.message
    messages = _unschedulable(admin_http, namespace, "app.kubernetes.io/name=api")
    assert len(messages) == 3  # none fits anywhere: 92Gi allocatable per node
    assert all("3 Insufficient ephemeral-storage" in m for m in messages), messages
