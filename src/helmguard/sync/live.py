"""A one-shot status straight from the cluster: list once, evaluate, no store, no watch.

What `helmguard status --live` shows, and what `status` falls back to when the release is
not in the store but a cluster is given. It uses the same index and rules as the sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError

from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.kube.discovery import APIResource
from helmguard.kube.errors import PermissionDenied
from helmguard.kube.informer import object_key, slim, without_contents
from helmguard.kube.kinds import is_workload
from helmguard.status import AppStatus, ResourceStatus, app_status
from helmguard.sync.index import (
    CLUSTER_KINDS,
    NAMESPACED_KINDS,
    NODE_KIND,
    ClusterIndex,
    node_essentials,
)
from helmguard.sync.releases import ManagedRelease


@dataclass(frozen=True)
class LiveStatus:
    """A release's members and app status as the cluster shows them at `at`."""

    release: ManagedRelease
    members: tuple[ResourceStatus, ...]
    app: AppStatus
    at: datetime


async def _list_into(
    kube: Kube,
    index: ClusterIndex,
    res: APIResource,
    namespace: str,
    transform: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    path = res.url(namespace)
    token = ""
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        body = await kube.get_json(path, params)
        for item in body.get("items") or ():
            index.apply(
                "ADDED", transform({"apiVersion": res.api_version, "kind": res.kind, **item})
            )
        token = str((body.get("metadata") or {}).get("continue") or "")
        if not token:
            break


async def live_status(kube: Kube, release: ManagedRelease) -> LiveStatus:
    """List what the release's statuses depend on (once) and evaluate every member.

    Nodes are listed too, for DaemonSets; without permission to list them the one verdict
    that needs them (a DaemonSet with no desired node) is Unknown, nothing else fails.
    """
    served = await kube.discovery.resources()
    index = ClusterIndex()
    kinds = [*NAMESPACED_KINDS, *CLUSTER_KINDS]
    kinds += [(r.group, r.kind) for r in release.inventory if (r.group, r.kind) not in kinds]
    for group, kind in kinds:
        res = served.for_kind(group, kind)
        if res is None or "list" not in res.verbs:
            continue
        secretive = (group, kind) in (("", "Secret"), ("", "ConfigMap"))
        await _list_into(
            kube, index, res, release.namespace, without_contents if secretive else slim
        )
    node_res = served.for_kind(*NODE_KIND)
    if node_res is not None and "list" in node_res.verbs:
        try:
            await _list_into(kube, index, node_res, "", node_essentials)
            index.nodes_known = True
        except ApiError as exc:
            if not isinstance(classify(exc), PermissionDenied):
                raise
    index.add_release(release)
    now = datetime.now(UTC)
    members = tuple(
        index.evaluate_member(key, ref, now) for key, ref in index.member_keys(release.key)
    )
    components = [m for m in members if is_workload(m.ref)]
    others = [m for m in members if not is_workload(m.ref)]
    return LiveStatus(release, members, app_status(components, others), now)


__all__ = ["LiveStatus", "live_status", "object_key"]
