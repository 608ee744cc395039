"""The sync's view of the cluster: objects by key, owners, Events, and release membership.

No I/O: informers (or a one-shot list) feed `apply(type, body)`; `evaluate_member`
computes a member's status with `helmguard.status` from what is indexed now. Keeping it
pure lets the live `status --live` path and the watch-based sync share every decision.
Just past 400 lines: the index and the membership it keeps are one structure, kept together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helmguard.graph.refs import extract_refs
from helmguard.kube.kinds import is_workload
from helmguard.manifest import K8sObject, ObjectRef, group_of
from helmguard.status import (
    Ownership,
    ResourceStatus,
    component_status,
    evaluate,
    observe,
    service_backends,
    service_status,
)
from helmguard.status.fields import event_subject, uid_of
from helmguard.status.ownership import CHILD_KINDS, controller_uid, current_replicaset
from helmguard.status.rules.service import NO_READY_ENDPOINTS
from helmguard.store import ReleaseKey
from helmguard.sync.releases import ManagedRelease, absent

# What the sync watches in each managed namespace, and cluster-wide.
NAMESPACED_KINDS: tuple[tuple[str, str], ...] = (
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("", "Pod"),
    ("", "PersistentVolumeClaim"),
    ("", "Service"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("networking.k8s.io", "Ingress"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("events.k8s.io", "Event"),
)
CLUSTER_KINDS: tuple[tuple[str, str], ...] = (
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
)
EVENT_KIND = ("events.k8s.io", "Event")
# Nodes are context for placement rules (a DaemonSet with no desired node), not members.
NODE_KIND = ("", "Node")
# Kinds a workload may depend on by name whose absence the sync can see (it watches them).
DEPENDENCY_KINDS = frozenset(
    {("", "ServiceAccount"), ("", "ConfigMap"), ("", "Secret"), ("", "PersistentVolumeClaim")}
)
_MAX_OWNER_DEPTH = 6

MemberKey = tuple[ReleaseKey, ObjectRef]


def node_essentials(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Node reduced to what placement depends on: name, labels, taints, unschedulable.

    Kubelet heartbeats and image lists change status only; dropping it keeps memory small
    and lets a status-only update be told apart from a placement change.
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    kept = ("name", "uid", "resourceVersion", "labels", "creationTimestamp", "deletionTimestamp")
    return {
        "apiVersion": body.get("apiVersion") or "v1",
        "kind": "Node",
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": {k: spec[k] for k in ("taints", "unschedulable") if k in spec},
    }


def _placement(node: K8sObject | None) -> object:
    return None if node is None else (node.labels, node.spec.get("taints"), node.name)


class _Children(Mapping[str, tuple[K8sObject, ...]]):
    """Ownership's by_owner mapping, read straight from the index (no rebuild per event)."""

    def __init__(self, index: dict[str, dict[str, K8sObject]]) -> None:
        self._index = index

    def __getitem__(self, uid: str) -> tuple[K8sObject, ...]:
        found = self._index.get(uid)
        if not found:
            raise KeyError(uid)
        return tuple(found.values())

    def get(self, uid: str, default: Any = None) -> Any:
        found = self._index.get(uid)
        return tuple(found.values()) if found else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass(frozen=True)
class Change:
    """What one indexed change touches: release members to recompute, and Events to store
    (the Event notified, or those about an object that arrive before the object does)."""

    members: frozenset[MemberKey]
    events: tuple[K8sObject, ...] = ()


class ClusterIndex:
    """Objects of the managed namespaces (plus cluster-scoped ones), kept current by `apply`."""

    def __init__(self) -> None:
        self.objects: dict[ObjectRef, K8sObject] = {}
        self.by_uid: dict[str, K8sObject] = {}
        self._children: dict[str, dict[str, K8sObject]] = defaultdict(dict)
        self._events: dict[str, dict[str, K8sObject]] = defaultdict(dict)
        self.ownership = Ownership(_Children(self._children))
        self.events_by_uid = _Children(self._events)
        # Events whose object was not indexed yet when they came (a pod's Scheduled may come
        # before the pod's own notification): stored once the object is, then forgotten.
        self._early_events: dict[str, dict[str, K8sObject]] = defaultdict(dict)
        self.releases: dict[ReleaseKey, ManagedRelease] = {}
        self._by_namespace: dict[str, list[ManagedRelease]] = defaultdict(list)
        # Members each release has been seen with (selector matches and inventory).
        self.members: dict[ReleaseKey, set[ObjectRef]] = {}
        # Dependency ref -> the members whose status depends on it, and the reverse.
        self._dependents: dict[ObjectRef, set[MemberKey]] = defaultdict(set)
        self._depends_on: dict[MemberKey, list[ObjectRef]] = {}
        self._nodes: dict[str, K8sObject] = {}
        self._node_tuple: tuple[K8sObject, ...] | None = None
        # Whether the Nodes were listed (and are watched): until then placement is unknown.
        self.nodes_known = False
        # (group, kind, namespace) a one-shot look could not read: what a workload needs
        # from there is not judged (absent from the index is not absent from the cluster).
        self.unreadable: set[tuple[str, str, str]] = set()

    # ---- releases -----------------------------------------------------------------------

    def add_release(self, release: ManagedRelease) -> None:
        """Start tracking a release (replacing an earlier version of it)."""
        old = self.releases.get(release.key)
        if old is not None:
            self.remove_release(old)
        self.releases[release.key] = release
        self._by_namespace[release.namespace].append(release)
        members = self.members[release.key] = set(release.inventory)
        for obj in self.objects.values():
            if self._matches(release, obj):
                members.add(obj.ref)

    def remove_release(self, release: ManagedRelease) -> None:
        self.releases.pop(release.key, None)
        group = self._by_namespace.get(release.namespace, [])
        self._by_namespace[release.namespace] = [r for r in group if r.key != release.key]
        self.members.pop(release.key, None)

    def namespaces(self) -> set[str]:
        """Namespaces some managed release lives in."""
        return {ns for ns, group in self._by_namespace.items() if group}

    @staticmethod
    def _matches(release: ManagedRelease, obj: K8sObject) -> bool:
        if obj.namespace != release.namespace or (obj.ref.group, obj.kind) == EVENT_KIND:
            return False
        if controller_uid(obj):
            return False  # a child counts through its owner
        return release.selector is not None and release.selector.matches(obj.labels)

    # ---- objects ------------------------------------------------------------------------

    def get(self, ref: ObjectRef) -> K8sObject | None:
        return self.objects.get(ref)

    def nodes(self) -> tuple[K8sObject, ...] | None:
        """The cluster's Nodes as indexed, or None while they are not known."""
        if not self.nodes_known:
            return None
        if self._node_tuple is None:
            self._node_tuple = tuple(self._nodes.values())
        return self._node_tuple

    def _apply_node(self, kind: str, node: K8sObject) -> Change:
        """Index a Node; a change of where pods may go touches every DaemonSet member."""
        old = self._nodes.get(node.name)
        if kind == "DELETED":
            self._nodes.pop(node.name, None)
        else:
            self._nodes[node.name] = node
        self._node_tuple = None
        if _placement(old) == _placement(None if kind == "DELETED" else node):
            return Change(frozenset())
        return Change(
            frozenset(
                (key, ref)
                for key, refs in self.members.items()
                for ref in refs
                if (ref.group, ref.kind) == ("apps", "DaemonSet")
            )
        )

    def top(self, obj: K8sObject) -> K8sObject:
        """The object's topmost known controller (Pod -> ReplicaSet -> Deployment)."""
        current = obj
        for _ in range(_MAX_OWNER_DEPTH):
            owner_uid = controller_uid(current)
            owner = self.by_uid.get(owner_uid) if owner_uid else None
            if owner is None:
                return current
            current = owner
        return current

    def apply(self, kind: str, body: Mapping[str, Any]) -> Change:
        """Index one watch notification; say which release members it affects."""
        obj = K8sObject(body)
        ref = obj.ref
        uid = uid_of(obj)
        if (ref.group, ref.kind) == NODE_KIND:
            return self._apply_node(kind, obj)
        if (ref.group, ref.kind) == EVENT_KIND:
            subject = str(event_subject(obj).get("uid") or "")
            event_uid = uid or f"{ref.namespace}/{ref.name}"
            about = self.by_uid.get(subject)
            if kind == "DELETED":
                for events in (self._events, self._early_events):
                    if subject in events:
                        events[subject].pop(event_uid, None)
                        if not events[subject]:
                            del events[subject]
            else:
                self._events[subject][event_uid] = obj
                if about is None and subject:
                    self._early_events[subject][event_uid] = obj
            members = self._affected(about) if about is not None else frozenset()
            return Change(members, (obj,) if kind != "DELETED" and about is not None else ())
        old = self.objects.get(ref)
        if old is not None:
            self._unindex(old)
        if kind != "DELETED":
            self.objects[ref] = obj
            if uid:
                self.by_uid[uid] = obj
            owner = controller_uid(obj)
            if owner:
                self._children[owner][uid] = obj
        affected = set(self._affected(obj))
        if old is not None:
            affected |= self._affected(old)
        for release in self._by_namespace.get(ref.namespace, ()):
            if kind != "DELETED" and self._matches(release, obj):
                self.members[release.key].add(ref)
                affected.add((release.key, ref))
        affected |= self._dependents.get(ref, set())
        # A pod's change is its workload's, and so of the Services that workload backs.
        top = self.top(obj).ref
        if top != ref:
            affected |= self._dependents.get(top, set())
        # Its early Events go to the releases it is part of, once it is part of one (its
        # owner may come later still: they wait for a later notification of it).
        early: tuple[K8sObject, ...] = ()
        if uid and affected and kind != "DELETED":
            early = tuple((self._early_events.pop(uid, None) or {}).values())
        elif kind == "DELETED":
            self._early_events.pop(uid, None)
        return Change(frozenset(affected), early)

    def _unindex(self, obj: K8sObject) -> None:
        self.objects.pop(obj.ref, None)
        uid = uid_of(obj)
        if uid and self.by_uid.get(uid) is obj:
            del self.by_uid[uid]
        owner = controller_uid(obj)
        if owner and owner in self._children:
            self._children[owner].pop(uid, None)
            if not self._children[owner]:
                del self._children[owner]

    def _affected(self, obj: K8sObject) -> frozenset[MemberKey]:
        top = self.top(obj)
        return frozenset(
            (release.key, top.ref)
            for release in self._by_namespace.get(top.namespace, ())
            if top.ref in self.members.get(release.key, ())
        )

    def member_keys(self, key: ReleaseKey) -> list[MemberKey]:
        return [(key, ref) for ref in sorted(self.members.get(key, ()))]

    # ---- status -------------------------------------------------------------------------

    def dependencies(self, obj: K8sObject) -> list[ObjectRef]:
        """Objects `obj`'s pod template needs by name that the sync watches (not optional)."""
        if not is_workload(obj.ref):
            return []
        seen: dict[ObjectRef, None] = {}
        for ref in extract_refs([obj]):
            target = ref.target
            if (
                not ref.optional
                and (target.group, target.kind) in DEPENDENCY_KINDS
                and (target.group, target.kind, target.namespace) not in self.unreadable
            ):
                seen.setdefault(target, None)
        return list(seen)

    def evaluate_member(self, key: ReleaseKey, ref: ObjectRef, now: datetime) -> ResourceStatus:
        """A member's status now: its rule, plus its pods and dependencies for a workload.

        A member absent from the index is Missing; a workload whose ServiceAccount (or
        ConfigMap, Secret, PVC) is absent is Blocked with that object as root cause.
        """
        obj = self.objects.get(ref)
        for dep in self._depends_on.pop((key, ref), ()):
            self._dependents[dep].discard((key, ref))
        release = self.releases.get(key)
        if obj is None:
            return absent(release, ref, now)
        observed = observe(obj, self.ownership, now, self.events_by_uid, self.nodes())
        own = evaluate(observed)
        if (obj.ref.group, obj.kind) == ("", "Service") and own.reason == NO_READY_ENDPOINTS:
            return self._judge_by_backends(key, obj, own, now)
        if not is_workload(obj.ref):
            return own
        pods = [
            evaluate(observe(child, self.ownership, now, self.events_by_uid))
            for child in observed.children
            if child.kind == "Pod" and not _past_attempt(obj, child)
        ]
        deps: list[ResourceStatus] = []
        needed = self._depends_on[(key, ref)] = self.dependencies(obj)
        for dep in needed:
            self._dependents[dep].add((key, ref))
            target = self.objects.get(dep)
            if target is None:
                deps.append(absent(release, dep, now))
            else:
                deps.append(evaluate(observe(target, self.ownership, now, self.events_by_uid)))
        return component_status(own, pods, deps)

    def _judge_by_backends(
        self, key: ReleaseKey, service: K8sObject, own: ResourceStatus, now: datetime
    ) -> ResourceStatus:
        """A Service without ready endpoints, by the release's workloads behind its selector."""
        workloads = [
            found
            for ref in self.members.get(key, ())
            if is_workload(ref) and (found := self.objects.get(ref)) is not None
        ]
        backends = service_backends(service, workloads)
        member = (key, service.ref)
        self._depends_on[member] = [b.ref for b in backends]
        for backend in backends:
            self._dependents[backend.ref].add(member)
        return service_status(own, [self.evaluate_member(key, b.ref, now) for b in backends])

    def descendants(self, ref: ObjectRef) -> list[tuple[K8sObject, ObjectRef]]:
        """A workload member's children, each with the key of its controlling owner.

        Deployment -> its current ReplicaSet and any other that still has pods -> their
        pods; CronJob -> Jobs -> pods; StatefulSet, DaemonSet, Job, ReplicaSet -> pods.
        Found by ownerReferences (uids), never by name.
        """
        obj = self.objects.get(ref)
        if obj is None or not is_workload(obj.ref):
            return []
        found: list[tuple[K8sObject, ObjectRef]] = []
        stack = [obj]
        while stack:
            parent = stack.pop()
            kinds = CHILD_KINDS.get(parent.kind, frozenset())
            children = [c for c in self.ownership.children(parent) if c.kind in kinds]
            if parent.kind == "Deployment":
                current = current_replicaset(parent, children)
                children = [
                    rs for rs in children if rs is current or self.ownership.children(rs, "Pod")
                ]
            for child in sorted(children, key=lambda c: c.ref):
                found.append((child, parent.ref))
                stack.append(child)
        return found

    def evaluate_child(self, child: K8sObject, now: datetime) -> ResourceStatus:
        """A workload's child's own status (a pod's phase, restarts, container reasons)."""
        return evaluate(observe(child, self.ownership, now, self.events_by_uid, self.nodes()))


def _past_attempt(owner: K8sObject, pod: K8sObject) -> bool:
    """A Job's pod that has ended: an attempt its backoffLimit accounts for, as the Job's
    own rule counts it (the Job's conditions say when the Job has failed)."""
    return owner.kind == "Job" and pod.status.get("phase") in ("Succeeded", "Failed")


def ref_of_subject(event: K8sObject) -> ObjectRef | None:
    """The ObjectRef of what an Event is about."""
    subject = event_subject(event)
    kind = subject.get("kind")
    name = subject.get("name")
    if not kind or not name:
        return None
    return ObjectRef(
        group_of(str(subject.get("apiVersion") or "")),
        str(kind),
        str(subject.get("namespace") or ""),
        str(name),
    )
