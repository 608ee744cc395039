"""Ownership tree from ownerReferences and the Deployment's current ReplicaSet."""

from __future__ import annotations

from helmguard.manifest import K8sObject
from helmguard.status import (
    build_ownership,
    current_replicaset,
    index_events,
    observe,
    status_children,
)
from helmguard.status.ownership import REVISION_ANNOTATION
from status.helpers import at, edited, load, named

SEED = load("seed_missing_sa")
DEPLOYMENT = named(SEED, "Deployment")
REPLICASET = named(SEED, "ReplicaSet")
EVENT = named(SEED, "Event")


def owned_by(obj: K8sObject, owner: K8sObject, name: str, uid: str) -> K8sObject:
    return edited(
        obj,
        metadata__name=name,
        metadata__uid=uid,
        metadata__namespace=owner.namespace,
        metadata__ownerReferences=[
            {"apiVersion": "apps/v1", "kind": owner.kind, "name": owner.name,
             "uid": owner.metadata["uid"], "controller": True}
        ],
    )  # fmt: skip


OLD_RS = edited(
    owned_by(REPLICASET, DEPLOYMENT, "common-vault-5b9c8d7f6a", "rs-old"),
    metadata__annotations={REVISION_ANNOTATION: "0"},
    spec__template__spec__serviceAccountName="default",
)
POD = named(load("pods"), "Pod", "web-5d8f7c9b6-ready")
NEW_POD = owned_by(POD, REPLICASET, "common-vault-6c787c5cb5-abcde", "pod-new")
OLD_POD = owned_by(POD, OLD_RS, "common-vault-5b9c8d7f6a-zzzzz", "pod-old")


def names(objects: tuple[K8sObject, ...]) -> set[str]:
    return {o.name for o in objects}


def test_current_replicaset_by_revision_annotation() -> None:
    assert current_replicaset(DEPLOYMENT, [OLD_RS, REPLICASET]) is REPLICASET


def test_current_replicaset_by_template_before_the_revision_is_stamped() -> None:
    unstamped = edited(DEPLOYMENT, metadata__annotations={})
    assert current_replicaset(unstamped, [OLD_RS, REPLICASET]) is REPLICASET


def test_replicasets_of_another_deployment_do_not_count() -> None:
    other = edited(REPLICASET, metadata__ownerReferences=[{"uid": "x", "controller": True}])
    assert current_replicaset(DEPLOYMENT, [other]) is None


def test_only_the_current_replicasets_pods_count() -> None:
    tree = build_ownership([DEPLOYMENT, REPLICASET, OLD_RS, NEW_POD, OLD_POD, EVENT])
    assert names(tree.children(DEPLOYMENT)) == {REPLICASET.name, OLD_RS.name}
    assert tree.children(OLD_RS, "Pod") == (OLD_POD,)
    children = status_children(DEPLOYMENT, tree)
    assert names(children) == {REPLICASET.name, OLD_RS.name, NEW_POD.name}


def test_observe_gathers_events_about_the_object_and_its_children() -> None:
    tree = build_ownership([DEPLOYMENT, REPLICASET])
    now = at("2025-06-01T10:01:00Z")
    seen = observe(DEPLOYMENT, tree, now, index_events([EVENT]))
    assert seen.children == (REPLICASET,)
    assert seen.events == (EVENT,)
    assert seen.now == now
    # The Event is about the ReplicaSet, so the ServiceAccount itself gets none.
    assert observe(NEW_POD, tree, now, index_events([EVENT])).events == ()
