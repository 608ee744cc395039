"""StatefulSet rule: pods, FailedCreate Events, partitions, OnDelete."""

from __future__ import annotations

from helmguard.manifest import K8sObject
from helmguard.status import State
from status.helpers import edited, load, named
from status.kinds import obj, run

STS = obj("StatefulSet")


def failed_create(owner: K8sObject, message: str) -> K8sObject:
    seed_event = named(load("seed_missing_sa"), "Event")
    subject = {"kind": owner.kind, "name": owner.name, "namespace": owner.namespace,
               "uid": owner.metadata["uid"]}  # fmt: skip
    return edited(seed_event, involvedObject=subject, message=message)


def test_all_ready_and_same_revision_is_ready() -> None:
    assert run(STS).state is State.READY


def test_revision_change_is_progressing() -> None:
    st = run(edited(STS, status__updateRevision="db-5f6c7d8e9", status__updatedReplicas=1))
    assert (st.state, st.reason) == (State.PROGRESSING, "RollingOut")


def test_partition_rollout_ready_when_pods_above_partition_are_updated() -> None:
    partitioned = edited(
        STS,
        spec__updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
        status__updateRevision="db-5f6c7d8e9",
        status__updatedReplicas=0,
    )
    assert run(partitioned).reason == "PartitionRollout"
    done = run(edited(partitioned, status__updatedReplicas=1))
    assert (done.state, done.reason) == (State.READY, "Ready")
    assert "partition 2" in done.message


def test_on_delete_is_ready_once_replicas_are_ready() -> None:
    on_delete = edited(
        STS,
        spec__updateStrategy={"type": "OnDelete"},
        status__updateRevision="db-5f6c7d8e9",
        status__updatedReplicas=0,
    )
    st = run(on_delete)
    assert st.state is State.READY
    assert "OnDelete" in st.message


def test_missing_pods_with_failed_create_event_is_blocked() -> None:
    message = (
        'create Pod db-0 in StatefulSet db failed error: pods "db-0" is forbidden: '
        "exceeded quota: pods-max, requested: pods=1, used: pods=2, limited: pods=2"
    )
    short = edited(STS, status__replicas=0, status__readyReplicas=0)
    st = run(short, events=[failed_create(STS, message)])
    assert (st.state, st.reason) == (State.BLOCKED, "FailedCreate")
    assert "exceeded quota: pods-max" in st.message
    assert st.root_cause is not None and st.root_cause.kind == "ResourceQuota"
    # Once every pod exists the old Event no longer decides anything.
    assert run(STS, events=[failed_create(STS, message)]).state is State.READY


def test_pod_trouble_wins() -> None:
    pod = named(load("pods"), "Pod", "web-5d8f7c9b6-unschedulable")
    st = run(edited(STS, status__readyReplicas=2), [pod])
    assert (st.state, st.reason) == (State.BLOCKED, "Unschedulable")
    assert st.root_cause == pod.ref
