"""Pod rule on pods in the states a kubelet reports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helmguard.manifest import ObjectRef
from helmguard.status import Observed, State, evaluate
from status.helpers import at, edited, load, named

OBJECTS = load("pods")
EVENTS = [o for o in OBJECTS if o.kind == "Event"]
NOW = at("2025-06-01T10:05:00Z")


def status_of(name: str, now=NOW, events=EVENTS):  # type: ignore[no-untyped-def]
    return evaluate(Observed(named(OBJECTS, "Pod", name), now, events=events))


@pytest.mark.parametrize(
    ("suffix", "state", "reason", "words"),
    [
        ("ready", State.READY, "Ready", "all containers ready"),
        ("pullbackoff", State.FAILED, "ImagePullBackOff", 'pulling image "nginx:does-not-exist"'),
        ("invalidimage", State.FAILED, "InvalidImageName", "invalid reference format"),
        ("crashloop", State.FAILED, "CrashLoopBackOff", "back-off 2m40s restarting failed"),
        ("oomkilled", State.FAILED, "OOMKilled", "exit code 137"),
        ("restarted", State.FAILED, "OOMKilled", "restarted 1 times"),
        ("configerror", State.BLOCKED, "CreateContainerConfigError", 'configmap "web-config"'),
        ("mount", State.BLOCKED, "FailedMount", 'secret "web-tls" not found'),
        ("creating", State.PROGRESSING, "ContainerCreating", "ContainerCreating"),
        ("unschedulable", State.BLOCKED, "Unschedulable", "didn't match Pod's node affinity"),
        ("evicted", State.FAILED, "Evicted", "The node was low on resource: memory"),
    ],
)
def test_pod_states(suffix: str, state: State, reason: str, words: str) -> None:
    name = f"web-5d8f7c9b6-{suffix}"
    st = status_of(name)
    assert (st.state, st.reason) == (state, reason), st
    assert words in st.message
    assert st.ref == ObjectRef("", "Pod", "shop", name)
    assert st.resource_version == "2001"


def test_missing_configmap_and_secret_are_named_as_root_cause() -> None:
    assert status_of("web-5d8f7c9b6-configerror").root_cause == ObjectRef(
        "", "ConfigMap", "shop", "web-config"
    )
    assert status_of("web-5d8f7c9b6-mount").root_cause == ObjectRef("", "Secret", "shop", "web-tls")


def test_failed_mount_needs_the_event_and_only_counts_for_its_pod() -> None:
    # Without the Event the pod is only creating: events are supplementary evidence.
    assert status_of("web-5d8f7c9b6-mount", events=[]).state is State.PROGRESSING
    assert status_of("web-5d8f7c9b6-creating").state is State.PROGRESSING


def test_unschedulable_only_after_the_window() -> None:
    pod = named(OBJECTS, "Pod", "web-5d8f7c9b6-unschedulable")
    since = at("2025-06-01T10:00:00Z")
    early = evaluate(Observed(pod, since + timedelta(seconds=2)))
    late = evaluate(Observed(pod, since + timedelta(seconds=5)))
    assert (early.state, early.reason) == (State.PROGRESSING, "Scheduling")
    assert (late.state, late.since) == (State.BLOCKED, since)


def test_oomkilled_since_is_when_it_was_killed() -> None:
    assert status_of("web-5d8f7c9b6-oomkilled").since == at("2025-06-01T10:03:09Z")


def test_recovered_container_is_ready_again() -> None:
    pod = named(OBJECTS, "Pod", "web-5d8f7c9b6-restarted")
    cs = dict(pod.status["containerStatuses"][0], ready=True)
    ready = [dict(c, status="True") for c in pod.status["conditions"]]
    healed = edited(pod, status__containerStatuses=[cs], status__conditions=ready)
    assert evaluate(Observed(healed, NOW)).state is State.READY


def test_succeeded_pod_is_ready_and_deleted_pod_terminating() -> None:
    pod = named(OBJECTS, "Pod", "web-5d8f7c9b6-ready")
    done = evaluate(Observed(edited(pod, status__phase="Succeeded"), NOW))
    assert (done.state, done.reason) == (State.READY, "Completed")
    gone = edited(pod, metadata__deletionTimestamp="2025-06-01T10:04:00Z")
    st = evaluate(Observed(gone, NOW))
    assert (st.state, st.since) == (State.TERMINATING, at("2025-06-01T10:04:00Z"))


def test_ready_pod_whose_kubelet_lags_a_spec_change_is_progressing() -> None:
    pod = named(OBJECTS, "Pod", "web-5d8f7c9b6-ready")
    resized = edited(pod, metadata__generation=2, status__observedGeneration=1)
    st = evaluate(Observed(resized, NOW))
    assert (st.state, st.reason) == (State.PROGRESSING, "ObservedGenerationLag")
    seen = edited(pod, metadata__generation=2, status__observedGeneration=2)
    assert evaluate(Observed(seen, NOW)).state is State.READY
    # kwok (and older kubelets) write no observedGeneration: nothing to compare, Ready.
    unknown = edited(pod, metadata__generation=2, status__observedGeneration=None)
    assert evaluate(Observed(unknown, NOW)).state is State.READY
