"""Deployment rule: own conditions, the current ReplicaSet, and its pods."""

from __future__ import annotations

from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import Observed, ResourceStatus, State, evaluate
from status.helpers import at, edited, load, named

SEED = load("seed_missing_sa")
DEPLOYMENT = named(SEED, "Deployment")
REPLICASET = named(SEED, "ReplicaSet")
NOW = at("2025-06-01T10:00:40Z")
SA = ObjectRef("", "ServiceAccount", "msga-cn", "vault-svc")


def run(dep: K8sObject, *children: K8sObject, events: tuple[K8sObject, ...] = ()) -> ResourceStatus:
    return evaluate(Observed(dep, NOW, children, events))


def without_condition(obj: K8sObject, kind: str) -> K8sObject:
    kept = [c for c in obj.status["conditions"] if c["type"] != kind]
    return edited(obj, status__conditions=kept)


def test_seed_replica_failure_is_blocked_at_once_with_the_clusters_words() -> None:
    st = run(DEPLOYMENT, REPLICASET)
    assert (st.state, st.reason) == (State.BLOCKED, "FailedCreate")
    assert "error looking up service account msga-cn/vault-svc" in st.message
    assert 'serviceaccount "vault-svc" not found' in st.message
    assert st.since == at("2025-06-01T10:00:00Z")
    assert st.root_cause == SA
    assert st.observed_generation == 1


def test_replicaset_condition_counts_before_the_deployment_copies_it() -> None:
    st = run(without_condition(DEPLOYMENT, "ReplicaFailure"), REPLICASET)
    assert (st.state, st.reason, st.root_cause) == (State.BLOCKED, "FailedCreate", SA)


def test_progress_deadline_exceeded_is_failed_and_keeps_the_cause() -> None:
    conds = [
        dict(
            c,
            status="False",
            reason="ProgressDeadlineExceeded",
            message='ReplicaSet "common-vault-6c787c5cb5" has timed out progressing.',
            lastTransitionTime="2025-06-01T10:10:00Z",
        )
        if c["type"] == "Progressing"
        else c
        for c in DEPLOYMENT.status["conditions"]
    ]
    st = run(edited(DEPLOYMENT, status__conditions=conds), REPLICASET)
    assert (st.state, st.reason) == (State.FAILED, "ProgressDeadlineExceeded")
    assert "has timed out progressing" in st.message
    assert "error looking up service account" in st.message
    assert st.since == at("2025-06-01T10:10:00Z")
    assert st.root_cause == SA


def test_generation_lag_is_progressing() -> None:
    st = run(edited(DEPLOYMENT, metadata__generation=2), REPLICASET)
    assert (st.state, st.reason) == (State.PROGRESSING, "ObservedGenerationLag")


def healed() -> tuple[K8sObject, K8sObject]:
    """The seed once the ServiceAccount exists and the pod runs, as the controllers write it."""
    dep = edited(
        without_condition(DEPLOYMENT, "ReplicaFailure"),
        status__replicas=1,
        status__updatedReplicas=1,
        status__readyReplicas=1,
        status__availableReplicas=1,
        status__unavailableReplicas=None,
    )
    rs = edited(
        without_condition(REPLICASET, "ReplicaFailure"),
        status__replicas=1,
        status__readyReplicas=1,
        status__availableReplicas=1,
    )
    return dep, rs


def test_healed_deployment_is_ready() -> None:
    dep, rs = healed()
    st = run(dep, rs)
    assert (st.state, st.reason) == (State.READY, "Available")


def test_rollout_in_flight_is_progressing() -> None:
    dep, rs = healed()
    st = run(edited(dep, status__availableReplicas=0), rs)
    assert (st.state, st.reason) == (State.PROGRESSING, "WaitingForAvailable")
    st = run(edited(dep, status__updatedReplicas=0), rs)
    assert (st.state, st.reason) == (State.PROGRESSING, "RollingOut")


def test_current_pods_decide_and_name_the_pod() -> None:
    dep, rs = healed()
    pods = load("pods")
    crash = named(pods, "Pod", "web-5d8f7c9b6-crashloop")
    owned = edited(
        crash,
        metadata__namespace="msga-cn",
        metadata__ownerReferences=[
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.name, "controller": True,
             "uid": rs.metadata["uid"]}
        ],
    )  # fmt: skip
    st = run(dep, rs, owned)
    assert (st.state, st.reason) == (State.FAILED, "CrashLoopBackOff")
    assert st.message.startswith("pod web-5d8f7c9b6-crashloop: container web")
    assert st.root_cause == owned.ref


def test_paused_deployment_says_so() -> None:
    dep, rs = healed()
    st = run(edited(dep, spec__paused=True, status__updatedReplicas=0), rs)
    assert (st.state, st.reason) == (State.PROGRESSING, "Paused")
