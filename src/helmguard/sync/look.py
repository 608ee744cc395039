"""One look at a release: what to read, and its statuses from what was read, as the sync sees it.

`looks(release)` names the collections a release's statuses depend on: each (kind,
namespace) of its inventory; with a selector, every kind the sync watches in its namespace;
where a workload or Service lives, the children status rules read (ReplicaSets, Pods, Jobs,
EndpointSlices, Events) and the objects a workload needs by name (ServiceAccounts,
ConfigMaps, Secrets, PersistentVolumeClaims); and whether the Nodes are needed (a
DaemonSet). `assemble` (pure) puts what was read of them into a `ClusterIndex` and
evaluates each member with `evaluate_member`, the function the watch-based sync calls, so
the deploy's wait, `status --live` and serve judge the same objects alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from helmguard.kube.informer import Body, slim, without_contents
from helmguard.kube.kinds import WORKLOAD_GROUPS, is_workload
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import ResourceStatus
from helmguard.store import ReleaseKey
from helmguard.sync.index import (
    DEPENDENCY_KINDS,
    NAMESPACED_KINDS,
    NODE_KIND,
    ClusterIndex,
    node_essentials,
)
from helmguard.sync.releases import ManagedRelease

# Children that status rules read, in each namespace that holds a workload or Service.
_CHILD_KINDS = (
    ("apps", "ReplicaSet"),
    ("", "Pod"),
    ("batch", "Job"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("events.k8s.io", "Event"),
)
_CHILD_SET = frozenset(_CHILD_KINDS) - {("events.k8s.io", "Event")}
_PARENT_KINDS = frozenset({*WORKLOAD_GROUPS, "Service"})
# Whose contents no status rule reads: read (and kept) without them.
_CONTENTS_KINDS = frozenset({("", "Secret"), ("", "ConfigMap")})

Collection = tuple[str, str, str]  # (group, kind, namespace); namespace "" when cluster-wide
NODES: Collection = ("", "Node", "")
# What was read of a collection; None: it may not be read (only for `Looks.optional` ones).
Listed = Mapping[Collection, Sequence[Body] | None]


def kept(group: str, kind: str) -> Callable[[Body], Body]:
    """What of an object of this kind is kept: Secrets and ConfigMaps without their values,
    Nodes reduced to what placement reads, anything else without managedFields."""
    if (group, kind) in _CONTENTS_KINDS:
        return without_contents
    if (group, kind) == NODE_KIND:
        return node_essentials
    return slim


@dataclass(frozen=True)
class Snapshot:
    """The release's objects as observed at `at`, with their statuses.

    `statuses`: each member's, as the sync computes it (a workload with its pods and the
    objects it needs); `own`: a workload's own rule alone, in the words of its controller
    (a ReplicaSet's FailedCreate), for a message that quotes the cluster.
    """

    at: datetime
    live: Mapping[ObjectRef, K8sObject]
    statuses: Mapping[ObjectRef, ResourceStatus]
    children: tuple[K8sObject, ...]
    own: Mapping[ObjectRef, ResourceStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class Looks:
    """What a look at a release reads: each inventory collection with the names wanted in
    it, the other collections its statuses depend on, and whether the Nodes are needed."""

    release: ManagedRelease
    inventory: Mapping[Collection, frozenset[str]]
    children: tuple[Collection, ...]
    placement: bool

    @property
    def collections(self) -> list[Collection]:
        """Every collection to read once (an inventory kind may also be a child kind)."""
        return list(dict.fromkeys([*self.inventory, *self.children]))

    def optional(self, collection: Collection) -> bool:
        """Whether a collection may be unreadable (RBAC): it is read only for what workloads
        need by name, which is then not judged, rather than failing the look."""
        return (collection[0], collection[1]) in DEPENDENCY_KINDS and (
            collection not in self.inventory
        )

    def needs_nodes(self, listed: Listed) -> bool:
        """Whether the Nodes are needed: a DaemonSet in the inventory, or among what a
        selector may match of what was read."""
        if self.placement:
            return True
        if self.release.selector is None:
            return False
        return any(
            g == "apps" and k == "DaemonSet" and items for (g, k, _), items in listed.items()
        )


def looks(release: ManagedRelease) -> Looks:
    by_collection: dict[Collection, set[str]] = defaultdict(set)
    parents: set[str] = set()
    for ref in release.inventory:
        by_collection[(ref.group, ref.kind, ref.namespace)].add(ref.name)
        if ref.kind in _PARENT_KINDS and ref.namespace:
            parents.add(ref.namespace)
    whole: list[Collection] = []
    if release.selector is not None:
        # Any object of the namespace may match the selector.
        whole = [(g, k, release.namespace) for g, k in NAMESPACED_KINDS]
        parents.add(release.namespace)
    kinds = (*_CHILD_KINDS, *sorted(DEPENDENCY_KINDS))
    return Looks(
        release,
        {c: frozenset(names) for c, names in by_collection.items()},
        tuple(dict.fromkeys([*whole, *((g, k, ns) for ns in sorted(parents) for g, k in kinds)])),
        any((r.group, r.kind) == ("apps", "DaemonSet") for r in release.inventory),
    )


def looks_at(refs: Iterable[ObjectRef]) -> Looks:
    """A look at these objects alone (no selector), as the deploy waits for them."""
    return looks(ManagedRelease(ReleaseKey("", ""), None, frozenset(refs)))


def assemble(plan: Looks, listed: Listed, nodes: Sequence[Body] | None) -> Snapshot:
    """The statuses of the release's members from what was read of each collection.

    Items are indexed as read (already `kept`); `nodes` None: they could not be read, and
    the one verdict needing them (a DaemonSet with no desired node) says it is unknown.
    """
    index = ClusterIndex()
    children: list[K8sObject] = []
    for collection in plan.collections:
        items = listed[collection]
        if items is None:
            index.unreadable.add(collection)
            continue
        child = (collection[0], collection[1]) in _CHILD_SET
        for item in items:
            index.apply("ADDED", item)
            if child:
                children.append(K8sObject(item))
    if nodes is not None:
        for node in nodes:
            index.apply("ADDED", node)
        index.nodes_known = True
    index.add_release(plan.release)
    now = datetime.now(UTC)
    statuses: dict[ObjectRef, ResourceStatus] = {}
    own: dict[ObjectRef, ResourceStatus] = {}
    live: dict[ObjectRef, K8sObject] = {}
    for key, ref in index.member_keys(plan.release.key):
        statuses[ref] = index.evaluate_member(key, ref, now)
        obj = index.get(ref)
        if obj is not None:
            live[ref] = obj
            if is_workload(ref):
                own[ref] = index.evaluate_child(obj, now)
    return Snapshot(now, live, statuses, tuple(children), own)
