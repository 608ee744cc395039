"""Fill a store the way the sync loop does: real objects -> helmguard.status -> store writes.

Used by the API tests until `helmguard.sync` lands: the statuses are computed by the real
status rules from real objects (recorded fixtures, or listed live from the sandbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from helmguard.graph.refs import WORKLOAD_GROUPS, extract_refs
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import (
    ResourceStatus,
    State,
    app_status,
    build_ownership,
    component_status,
    evaluate,
    index_events,
    missing,
    observe,
)
from helmguard.status.fields import event_subject
from helmguard.store import AppRecord, EventRecord, ObservedStatus, ReleaseKey, Store

_DEPENDENCY_KINDS = frozenset({"ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim"})


def _observed(status: ResourceStatus, now: datetime) -> ObservedStatus:
    return ObservedStatus(
        ref=status.ref,
        state=status.state.value,
        reason=status.reason,
        message=status.message,
        since=status.since or now,
        observed_at=now,
        resource_version=status.resource_version or "",
        generation=status.observed_generation,
        root_cause=status.root_cause,
    )


def _is_component(ref: ObjectRef) -> bool:
    return WORKLOAD_GROUPS.get(ref.kind) == ref.group and ref.kind != "Pod"


def compute(
    inventory: Sequence[ObjectRef],
    cluster: Sequence[K8sObject],
    events: Sequence[K8sObject],
    now: datetime,
) -> list[ResourceStatus]:
    """Statuses of the release's objects and of its workloads' pods, as `sync` would write."""
    live = {o.ref: o for o in cluster}
    ownership = build_ownership(cluster)
    by_uid = index_events(events)
    out: list[ResourceStatus] = []
    for ref in inventory:
        obj = live.get(ref)
        if obj is None:
            out.append(missing(ref, now))
            continue
        status = evaluate(observe(obj, ownership, now, by_uid))
        if _is_component(ref):
            deps = []
            for r in extract_refs([obj]):
                if r.target.kind in _DEPENDENCY_KINDS and not r.optional and not r.implicit:
                    if r.target in live:
                        deps.append(ResourceStatus(r.target, State.READY, "Exists", ""))
                    else:
                        deps.append(missing(r.target, now))
            pods = [
                evaluate(observe(c, ownership, now, by_uid))
                for c in observe(obj, ownership, now).children
                if c.kind == "Pod"
            ]
            out.extend(pods)
            status = component_status(status, pods, deps)
        out.append(status)
    return out


async def write(
    store: Store, key: ReleaseKey, statuses: Sequence[ResourceStatus], now: datetime
) -> int:
    """Upsert every status and the release's app status (the worst of its objects, pods
    counting through their workloads); return how many changed (each change a transition)."""
    members = [s for s in statuses if s.ref.kind != "Pod"]
    app = app_status(
        [s for s in members if _is_component(s.ref)],
        [s for s in members if not _is_component(s.ref)],
    )
    record = AppRecord(
        app.state.value, app.reason, app.message, app.since or now, now, app.root_cause
    )
    objects, apps = await store.upsert_statuses(
        [(key, _observed(s, now)) for s in statuses], [(key, record)]
    )
    return sum(bool(c) for c in [*objects, *apps])


def event_records(events: Sequence[K8sObject]) -> list[EventRecord]:
    """Core/v1 Events as the store keeps them."""
    out = []
    for e in events:
        subject = event_subject(e)
        body = e.body
        first = body.get("firstTimestamp") or e.metadata.get("creationTimestamp")
        last = body.get("lastTimestamp") or first
        out.append(
            EventRecord(
                uid=str(e.metadata.get("uid") or e.name),
                ref=ObjectRef(
                    str(subject.get("apiVersion", "")).rpartition("/")[0],
                    str(subject.get("kind", "")),
                    str(subject.get("namespace", "")),
                    str(subject.get("name", "")),
                ),
                type=str(body.get("type") or "Normal"),
                reason=str(body.get("reason") or ""),
                message=str(body.get("message") or ""),
                count=int(body.get("count") or 1),
                first_seen=_time(first),
                last_seen=_time(last),
                source=str((body.get("source") or {}).get("component") or ""),
            )
        )
    return out


def _time(value: Any) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


_LISTS = (
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/apps/v1/namespaces/{ns}/replicasets",
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/serviceaccounts",
    "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
)


def list_namespace(api: httpx.Client, namespace: str) -> tuple[list[K8sObject], list[K8sObject]]:
    """Everything the status rules need in `namespace` (plus the Namespace), and its Events."""
    objects: list[K8sObject] = []
    for path in _LISTS:
        answer = api.get(path.format(ns=namespace)).json()
        kind = answer["kind"].removesuffix("List")
        for item in answer.get("items", []):
            item = {"apiVersion": answer["apiVersion"], "kind": kind, **item}
            objects.append(K8sObject(item))
    ns = api.get(f"/api/v1/namespaces/{namespace}")
    if ns.status_code == 200:
        objects.append(K8sObject(ns.json()))
    events = api.get(f"/api/v1/namespaces/{namespace}/events").json()
    return objects, [K8sObject({"apiVersion": "v1", "kind": "Event", **e}) for e in events["items"]]
