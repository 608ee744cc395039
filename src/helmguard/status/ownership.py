"""Who owns whom, from ownerReferences, and which children count for a workload's status."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from helmguard.graph.refs import pod_labels, service_selects
from helmguard.manifest import K8sObject
from helmguard.status.fields import event_subject, parse_time, uid_of
from helmguard.status.model import Observed

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
_EPOCH = datetime.min.replace(tzinfo=UTC)

# For each owner kind, the kinds of children its status depends on.
CHILD_KINDS: Mapping[str, frozenset[str]] = {
    "Deployment": frozenset({"ReplicaSet"}),
    "ReplicaSet": frozenset({"Pod"}),
    "StatefulSet": frozenset({"Pod"}),
    "DaemonSet": frozenset({"Pod"}),
    "Job": frozenset({"Pod"}),
    "CronJob": frozenset({"Job"}),
    "Service": frozenset({"EndpointSlice"}),
}


def controller_uid(obj: K8sObject) -> str | None:
    """The uid of the object's controlling owner (ownerReferences[].controller), if any."""
    for ref in obj.metadata.get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid") or "") or None
    return None


@dataclass(frozen=True)
class Ownership:
    """Objects indexed by the uid of their controlling owner."""

    by_owner: Mapping[str, tuple[K8sObject, ...]]

    def children(self, owner: K8sObject, kind: str | None = None) -> tuple[K8sObject, ...]:
        """Objects whose controller is `owner`, optionally only of `kind`."""
        found = self.by_owner.get(uid_of(owner), ())
        if kind is None:
            return found
        return tuple(c for c in found if c.kind == kind)


def build_ownership(objects: Iterable[K8sObject]) -> Ownership:
    """Index `objects` by controlling owner uid; objects without one are roots."""
    index: defaultdict[str, list[K8sObject]] = defaultdict(list)
    for obj in objects:
        owner = controller_uid(obj)
        if owner:
            index[owner].append(obj)
    return Ownership({uid: tuple(items) for uid, items in index.items()})


def _created(obj: K8sObject) -> datetime:
    return parse_time(obj.metadata.get("creationTimestamp")) or _EPOCH


def _template_without_hash(template: Mapping[str, object]) -> object:
    meta = dict(template.get("metadata") or {})  # type: ignore[call-overload]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
    meta["labels"] = labels
    return {**template, "metadata": meta}


def current_replicaset(deployment: K8sObject, replicasets: Sequence[K8sObject]) -> K8sObject | None:
    """The Deployment's current ReplicaSet: same revision annotation, else same pod template.

    The revision annotation is what the deployment controller stamps on both; the
    template comparison covers the moment before it has stamped the Deployment.
    """
    owned = [rs for rs in replicasets if controller_uid(rs) == uid_of(deployment)]
    revision = deployment.annotations.get(REVISION_ANNOTATION)
    if revision is not None:
        for rs in owned:
            if rs.annotations.get(REVISION_ANNOTATION) == revision:
                return rs
    template = _template_without_hash(deployment.spec.get("template") or {})
    matching = [
        rs for rs in owned if _template_without_hash(rs.spec.get("template") or {}) == template
    ]
    if matching:
        return max(matching, key=_created)
    return None


def status_children(obj: K8sObject, ownership: Ownership) -> tuple[K8sObject, ...]:
    """The children `obj`'s rule looks at.

    Deployment: all its ReplicaSets plus the current ReplicaSet's pods (old pods do not
    decide the rollout). StatefulSet, DaemonSet, Job, ReplicaSet: pods. CronJob: Jobs.
    Service: EndpointSlices.
    """
    kinds = CHILD_KINDS.get(obj.kind)
    if kinds is None:
        return ()
    direct = tuple(c for c in ownership.children(obj) if c.kind in kinds)
    if obj.kind != "Deployment":
        return direct
    current = current_replicaset(obj, direct)
    if current is None:
        return direct
    return direct + ownership.children(current, "Pod")


def service_backends(service: K8sObject, objects: Iterable[K8sObject]) -> list[K8sObject]:
    """The workloads among `objects` (same namespace) whose pods `service`'s selector picks."""
    selector = service.spec.get("selector") or {}
    if not selector:
        return []
    found = []
    for obj in objects:
        if obj.namespace != service.namespace:
            continue
        labels = pod_labels(obj)
        if labels is not None and service_selects(selector, labels):
            found.append(obj)
    return found


def index_events(events: Iterable[K8sObject]) -> Mapping[str, tuple[K8sObject, ...]]:
    """Events grouped by the uid of the object they are about."""
    index: defaultdict[str, list[K8sObject]] = defaultdict(list)
    for event in events:
        uid = event_subject(event).get("uid")
        if uid:
            index[str(uid)].append(event)
    return {uid: tuple(items) for uid, items in index.items()}


def observe(
    obj: K8sObject,
    ownership: Ownership,
    now: datetime,
    events_by_uid: Mapping[str, Sequence[K8sObject]] | None = None,
    nodes: Sequence[K8sObject] | None = None,
) -> Observed:
    """Bundle `obj`, the children that count for it, the Events about any of them, and the
    cluster's Nodes (None: not known)."""
    children = status_children(obj, ownership)
    events: list[K8sObject] = []
    if events_by_uid:
        for item in (obj, *children):
            events.extend(events_by_uid.get(uid_of(item), ()))
    return Observed(obj=obj, now=now, children=children, events=tuple(events), nodes=nodes)
