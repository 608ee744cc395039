"""One look at a release, from recorded objects: what it reads, and the sync's verdicts."""

from __future__ import annotations

from helmguard.deploy.observe import pods_created, unconfirmed, verdict
from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import ReleaseKey
from helmguard.sync.look import assemble, kept, looks, looks_at
from helmguard.sync.releases import ManagedRelease
from helmguard.sync.selector import parse_selector
from status.helpers import edited, load, named

SEED = load("seed_missing_sa")
PODS = load("pods")


def _listed(plan, objects):  # type: ignore[no-untyped-def]
    """What a list of each collection of `plan` returns, from `objects`."""
    return {
        (g, k, ns): [
            kept(g, k)(dict(o.body))
            for o in objects
            if (o.ref.group, o.kind) == (g, k) and (not ns or o.namespace == ns)
        ]
        for g, k, ns in plan.collections
    }


def test_a_workload_look_reads_its_children_and_what_it_needs_not_the_nodes() -> None:
    dep = named(SEED, "Deployment")
    plan = looks_at([dep.ref])
    kinds = {(g, k) for g, k, _ in plan.collections}
    assert {("apps", "ReplicaSet"), ("", "Pod"), ("", "ServiceAccount"), ("", "Secret")} <= kinds
    assert not plan.placement
    assert plan.optional(("", "Secret", dep.namespace))
    assert not plan.optional(("apps", "ReplicaSet", dep.namespace))


def test_the_seed_is_blocked_on_its_account_as_the_sync_says() -> None:
    dep = named(SEED, "Deployment")
    plan = looks_at([dep.ref])
    snap = assemble(plan, _listed(plan, SEED), None)
    st = snap.statuses[dep.ref]
    account = str(dep.spec["template"]["spec"]["serviceAccountName"])
    assert st.state is State.BLOCKED
    assert st.root_cause == ObjectRef("", "ServiceAccount", dep.namespace, account)
    # The controller's own words are kept beside, for the deploy's message.
    assert snap.own[dep.ref].state is State.BLOCKED
    assert "error looking up service account" in snap.own[dep.ref].message


def test_an_unreadable_collection_of_needed_objects_is_not_judged_missing() -> None:
    dep = named(SEED, "Deployment")
    plan = looks_at([dep.ref])
    listed = _listed(plan, SEED)
    listed[("", "ServiceAccount", dep.namespace)] = None  # RBAC: may not list them
    st = assemble(plan, listed, None).statuses[dep.ref]
    # Not Blocked on a ServiceAccount nobody could look for; the cluster's own words stand.
    assert st.reason != "MissingDependency"


def test_a_selector_reads_every_watched_kind_of_its_namespace() -> None:
    dep = named(SEED, "Deployment")
    release = ManagedRelease(ReleaseKey(dep.namespace, "x"), parse_selector("a=b"), frozenset())
    plan = looks(release)
    assert ("apps", "Deployment", dep.namespace) in plan.collections
    assert ("apps", "StatefulSet", dep.namespace) in plan.collections
    assert not plan.placement


def test_the_deploy_quotes_the_controller_once_it_has_spoken() -> None:
    dep = named(SEED, "Deployment")
    plan = looks_at([dep.ref])
    snap = assemble(plan, _listed(plan, SEED), None)
    outcome = verdict(list(snap.statuses.values()), snap)
    assert outcome.done and outcome.state is State.BLOCKED
    assert outcome.message.startswith(f"Blocked: {dep.ref} (ReplicaSet {dep.namespace}/")
    assert "error looking up service account" in outcome.message
    assert outcome.root_cause == snap.statuses[dep.ref].root_cause
    assert not unconfirmed(snap.statuses[dep.ref], snap)
    # Just created (no status, no ReplicaSet yet): the missing account is seen, the
    # controller has not spoken.
    early = [edited(dep, status=None)]
    snap = assemble(plan, _listed(plan, early), None)
    assert snap.statuses[dep.ref].state is State.BLOCKED
    assert unconfirmed(snap.statuses[dep.ref], snap)


def _pod_of(owner_uid: str, namespace: str):  # type: ignore[no-untyped-def]
    pod = PODS[0]
    owner = dict(pod.metadata["ownerReferences"][0], uid=owner_uid)
    return edited(pod, metadata__namespace=namespace, metadata__ownerReferences=[owner])


def test_pods_created_means_pods_of_the_current_replicaset() -> None:
    dep = named(SEED, "Deployment")
    rs = named(SEED, "ReplicaSet")
    plan = looks_at([dep.ref])
    # The seed's controller was refused: no pod, its words are awaited.
    assert not pods_created(dep.ref, assemble(plan, _listed(plan, SEED), None))
    ours = [*SEED, _pod_of(str(rs.metadata["uid"]), dep.namespace)]
    assert pods_created(dep.ref, assemble(plan, _listed(plan, ours), None))
    # A pod of another ReplicaSet (an older revision) says nothing about this one.
    theirs = [*SEED, _pod_of("0000-another-replicaset", dep.namespace)]
    assert not pods_created(dep.ref, assemble(plan, _listed(plan, theirs), None))
