"""Discovery on the sandbox: kinds, scopes, plurals, verbs; two aggregated GETs, cached."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from helmguard.kube.client import Kube
from helmguard.kube.discovery import AGGREGATED, parse_aggregated, parse_resource_list
from helmguard.kube.errors import MissingDependency

from .conftest import FIXTURES


async def test_served_resources(kube: Kube) -> None:
    before = kube.requests
    served = await kube.discovery.resources()
    assert kube.requests - before == 2  # aggregated discovery: /api and /apis
    assert await kube.discovery.resources() is served  # cached for the run
    assert kube.requests - before == 2

    deployment = served.lookup("apps/v1", "Deployment")
    assert (deployment.plural, deployment.namespaced) == ("deployments", True)
    assert {"create", "patch", "list", "watch"} <= deployment.verbs
    assert {"status", "scale"} <= set(deployment.subresources)
    assert deployment.url() == "/apis/apps/v1/deployments"
    assert deployment.url("web") == "/apis/apps/v1/namespaces/web/deployments"
    assert deployment.url("web", "front") == "/apis/apps/v1/namespaces/web/deployments/front"
    namespace = served.for_kind("", "Namespace")
    assert namespace is not None and namespace.url("ignored", "web") == "/api/v1/namespaces/web"
    assert served.is_namespaced("rbac.authorization.k8s.io", "ClusterRole") is False
    assert served.for_kind("", "Pod").api_version == "v1"  # type: ignore[union-attr]
    assert served.by_plural("", "serviceaccounts").kind == "ServiceAccount"  # type: ignore[union-attr]
    assert served.is_namespaced("", "Widget") is None
    assert served.unavailable == {}
    with pytest.raises(MissingDependency, match='no matches for kind "Deployment"') as info:
        served.lookup("apps/v1beta1", "Deployment")
    assert info.value.fix == "The cluster serves Deployment as apps/v1: use that apiVersion."

    if os.environ.get("HELMGUARD_RECORD_FIXTURES") == "1":
        body = await kube.get_json("/apis/apps/v1")
        (FIXTURES / "apis_apps_v1.json").write_text(json.dumps(body, indent=2) + "\n")
        aggregated = await kube.get_json("/apis", accept=AGGREGATED)
        aggregated["items"] = [i for i in aggregated["items"] if i["metadata"]["name"] == "apps"]
        (FIXTURES / "apis_aggregated_apps.json").write_text(json.dumps(aggregated, indent=2) + "\n")


async def test_aggregated_discovery_says_what_one_list_per_group_version_says(kube: Kube) -> None:
    """The two ways of discovering (aggregated, or a GET per group version) agree exactly."""
    aggregated = await kube.discovery.resources(refresh=True)
    before = kube.requests
    plain = await kube.discovery._load(aggregated=False)  # what an older server makes us do
    assert kube.requests - before > 10
    assert len(aggregated.resources) > 50
    assert set(aggregated.resources) == set(plain.resources)
    assert aggregated.preferred_versions == plain.preferred_versions
    assert aggregated.unavailable == plain.unavailable == {}


async def test_crd_served_after_refresh(kube: Kube, namespace: str) -> None:
    group = f"{namespace}.helmguard.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    served = await kube.discovery.resources()
    assert not served.serves(group, "Widget")
    with pytest.raises(MissingDependency, match='no matches for kind "Widget"') as info:
        served.lookup(f"{group}/v1", "Widget")
    assert info.value.fix.startswith("Install the CRD")
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await kube.send_json("POST", path, crd)
    try:
        deadline = time.monotonic() + 30
        while not (served := await kube.discovery.resources(refresh=True)).serves(group, "Widget"):
            assert time.monotonic() < deadline, "the CRD never became served"
            await asyncio.sleep(0.3)
        widget = served.lookup(f"{group}/v1", "Widget")
        assert widget.namespaced and widget.plural == "widgets"
        assert served.serves(group, "Widget", "v1") and not served.serves(group, "Widget", "v2")
    finally:
        await kube.send_json("DELETE", f"{path}/widgets.{group}")


def test_parse_captured_aggregated_discovery() -> None:
    body = json.loads((FIXTURES / "apis_aggregated_apps.json").read_text())
    served = parse_aggregated([body])
    resources = {r.kind: r for r in served.resources}
    assert set(resources) >= {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
    assert (resources["StatefulSet"].plural, resources["StatefulSet"].namespaced) == (
        "statefulsets",
        True,
    )
    assert resources["Deployment"].short_names == ("deploy",)
    assert {"scale", "status"} <= set(resources["ReplicaSet"].subresources)
    assert {"Scale", "ReplicaSet"} <= set(resources["ReplicaSet"].subresource_kinds)
    assert served.preferred_versions["apps"] == "v1" and served.unavailable == {}
    stale = json.loads(json.dumps(body))
    stale["items"][0]["versions"][0]["freshness"] = "Stale"
    down = parse_aggregated([stale])
    assert down.resources == () and "apps/v1" in down.unavailable


def test_parse_captured_resource_list() -> None:
    body = json.loads((FIXTURES / "apis_apps_v1.json").read_text())
    resources = {r.kind: r for r in parse_resource_list(body)}
    assert set(resources) >= {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
    assert resources["StatefulSet"].plural == "statefulsets"
    assert resources["Deployment"].short_names == ("deploy",)
    assert "scale" in resources["ReplicaSet"].subresources
    assert {"Scale", "ReplicaSet"} <= set(resources["ReplicaSet"].subresource_kinds)
    assert all(r.group == "apps" and r.version == "v1" for r in resources.values())
