"""Capabilities: from a real cluster's discovery, and how flags combine with them."""

from __future__ import annotations

from typing import Any

from helmguard.chart.capabilities import Capabilities, capabilities_from, with_capabilities
from helmguard.chart.render import RenderRequest, render_chart
from helmguard.kube.client import Kube
from helmguard.kube.config import load_config

from .conftest import CHARTS


def test_flags_combine_with_cluster_capabilities() -> None:
    caps = Capabilities("v1.37.2", ("apps/v1", "apps/v1/Deployment", "v1"))
    plain = with_capabilities(RenderRequest(chart="c"), caps)
    assert (plain.kube_version, plain.api_versions) == ("v1.37.2", caps.api_versions)
    flagged = with_capabilities(
        RenderRequest(chart="c", kube_version="1.30.0", api_versions=("example.com/v1", "v1")),
        caps,
    )
    assert flagged.kube_version == "1.30.0"
    assert flagged.api_versions == (*caps.api_versions, "example.com/v1")


async def test_capabilities_come_from_the_cluster(sandbox: Any) -> None:
    async with Kube(load_config(sandbox.kubeconfig, sandbox.admin_context)) as kube:
        version = await kube.version()
        caps = capabilities_from(version, await kube.discovery.resources())
    assert caps.kube_version == version["gitVersion"]
    assert caps.kube_version.startswith("v1.")
    for expected in ("v1", "v1/ConfigMap", "apps/v1/Deployment", "policy/v1/PodDisruptionBudget"):
        assert expected in caps.api_versions
    # Subresources' kinds, as helm's GetVersionSet lists them (pods/eviction, */scale).
    assert {"v1/Eviction", "apps/v1/Scale", "v1/TokenRequest"} <= set(caps.api_versions)
    assert "example.com/v1" not in caps.api_versions
    request = with_capabilities(RenderRequest(chart=str(CHARTS / "capabilities")), caps)
    rendered = render_chart(request)
    assert [o.kind for o in rendered.objects] == ["PodDisruptionBudget", "ConfigMap"]
    data = rendered.objects[1].body["data"]
    assert data["kubeVersion"] == version["gitVersion"]
    assert data["hasWidgets"] == "false"
