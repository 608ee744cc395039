"""Render capabilities (`.Capabilities.KubeVersion`, `.Capabilities.APIVersions`) from a cluster.

With a cluster, Helm takes them from discovery (action.Configuration.getCapabilities:
the server's gitVersion, and every group version plus every "group/version/Kind").
Without one, they come from `--kube-version` and `--api-versions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from helmguard.chart.render import RenderRequest

if TYPE_CHECKING:
    from helmguard.kube.discovery import ServedResources


@dataclass(frozen=True)
class Capabilities:
    """What a cluster tells the templates about itself."""

    kube_version: str
    api_versions: tuple[str, ...]


def capabilities_from(version: Mapping[str, Any], served: ServedResources) -> Capabilities:
    """Helm's GetVersionSet over a discovery snapshot, and gitVersion from `/version`.

    Unavailable group versions (an aggregated API that is down) still count as
    versions, as in Helm; their kinds are unknown. Subresources' kinds count under their
    resource's group version (`apps/v1/Scale`, `v1/Eviction`), as Helm lists every entry
    of a group version's resource list.
    """
    found: set[str] = set(served.unavailable)
    for res in served.resources:
        found.add(res.api_version)
        found.add(f"{res.api_version}/{res.kind}")
        found.update(f"{res.api_version}/{kind}" for kind in res.subresource_kinds)
    return Capabilities(str(version.get("gitVersion", "")), tuple(sorted(found)))


def with_capabilities(req: RenderRequest, caps: Capabilities) -> RenderRequest:
    """The request rendered against `caps`: an explicit --kube-version still wins, and
    --api-versions add to the cluster's, as `helm install` does."""
    extra = tuple(v for v in req.api_versions if v not in set(caps.api_versions))
    return replace(
        req,
        kube_version=req.kube_version or caps.kube_version,
        api_versions=caps.api_versions + extra,
    )
