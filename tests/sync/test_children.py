"""A workload's children as the sync stores them and the page draws them: by ownerReferences."""

from __future__ import annotations

from datetime import UTC, datetime

from helmguard.api.schemas import release_detail
from helmguard.manifest import K8sObject
from helmguard.status.rules.pod import pod_restarts
from helmguard.store import ReleaseKey, ReleaseRecord, ResourceRecord
from helmguard.sync.index import ClusterIndex
from helmguard.sync.releases import ManagedRelease
from status.helpers import edited, load, named

SEED = load("seed_missing_sa")
DEPLOYMENT = named(SEED, "Deployment")
CURRENT = named(SEED, "ReplicaSet")
KEY = ReleaseKey(DEPLOYMENT.namespace, "common")
NOW = datetime(2025, 6, 1, 10, 5, tzinfo=UTC)


def _owned_by(obj: K8sObject, owner: K8sObject, name: str, uid: str) -> K8sObject:
    ref = {"apiVersion": "apps/v1", "kind": owner.kind, "name": owner.name,
           "uid": owner.metadata["uid"], "controller": True}  # fmt: skip
    return edited(obj, metadata__name=name, metadata__namespace=owner.namespace,
                  metadata__uid=uid, metadata__ownerReferences=[ref])  # fmt: skip


# An older ReplicaSet scaled to zero (no pod): not shown. One with a pod left: shown.
OLD_EMPTY = edited(
    _owned_by(CURRENT, DEPLOYMENT, "common-vault-old1", "rs-old1"),
    metadata__annotations={"deployment.kubernetes.io/revision": "0"},
)
OLD_BUSY = edited(
    _owned_by(CURRENT, DEPLOYMENT, "common-vault-old2", "rs-old2"),
    metadata__annotations={"deployment.kubernetes.io/revision": "0"},
)
RUNNING = named(load("pods"), "Pod", "web-5d8f7c9b6-crashloop")
POD = _owned_by(RUNNING, CURRENT, "common-vault-6c787c5cb5-abcde", "pod-1")
OLD_POD = _owned_by(RUNNING, OLD_BUSY, "common-vault-old2-fghij", "pod-2")
# Named like the Deployment's pods but owned by nothing: not one of them.
STRAY = edited(RUNNING, metadata__name="common-vault-stray", metadata__uid="pod-3",
               metadata__namespace=DEPLOYMENT.namespace, metadata__ownerReferences=[])  # fmt: skip


def _index() -> ClusterIndex:
    index = ClusterIndex()
    for obj in (DEPLOYMENT, CURRENT, OLD_EMPTY, OLD_BUSY, POD, OLD_POD, STRAY):
        index.apply("ADDED", dict(obj.body))
    index.add_release(ManagedRelease(KEY, None, frozenset({DEPLOYMENT.ref})))
    return index


def test_descendants_follow_owner_uids_and_skip_empty_old_replicasets() -> None:
    found = [(obj.ref, owner) for obj, owner in _index().descendants(DEPLOYMENT.ref)]
    assert sorted(found) == sorted(
        [
            (CURRENT.ref, DEPLOYMENT.ref),
            (OLD_BUSY.ref, DEPLOYMENT.ref),
            (POD.ref, CURRENT.ref),
            (OLD_POD.ref, OLD_BUSY.ref),
        ]
    )
    assert _index().descendants(STRAY.ref) == []  # a bare pod has no children


def test_pod_restarts_sum_every_container() -> None:
    statuses = RUNNING.body["status"]["containerStatuses"]
    assert pod_restarts(RUNNING) == sum(s.get("restartCount", 0) for s in statuses) > 0


def _record(obj: K8sObject, owner: K8sObject | None, state: str) -> ResourceRecord:
    return ResourceRecord(
        KEY, obj.ref, state, "R", "m", NOW, NOW, "1", None, None,
        owner=owner.ref if owner is not None else None,
        restarts=pod_restarts(obj) if obj.kind == "Pod" else None,
    )  # fmt: skip


def test_release_detail_is_a_tree_and_pods_are_only_owned_ones() -> None:
    members = [_record(DEPLOYMENT, None, "Blocked"), _record(STRAY, None, "Ready")]
    index = _index()
    children = [
        _record(obj, next(o for o in (DEPLOYMENT, CURRENT, OLD_BUSY) if o.ref == owner), "Ready")
        for obj, owner in index.descendants(DEPLOYMENT.ref)
    ]
    detail = release_detail(ReleaseRecord(KEY, "vault", "0.1.0", 1), members, children)
    (component,) = detail.components
    assert {c.ref.name for c in component.children} == {CURRENT.name, OLD_BUSY.name}
    current = next(c for c in component.children if c.ref.name == CURRENT.name)
    assert [p.ref.name for p in current.children] == [POD.name]
    assert {p.ref.name for p in component.pods} == {POD.name, OLD_POD.name}
    assert all(p.restarts == pod_restarts(RUNNING) for p in component.pods)
    assert [r.ref.name for r in detail.resources] == [STRAY.name]
