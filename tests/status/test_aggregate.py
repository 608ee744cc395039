"""Component and app aggregation: worst part wins, the cause is surfaced."""

from __future__ import annotations

from datetime import timedelta

from helmguard.manifest import ObjectRef
from helmguard.status import (
    Observed,
    ResourceStatus,
    State,
    app_status,
    component_status,
    evaluate,
    missing,
    unknown,
)
from status.helpers import at, load, named

SEED = load("seed_missing_sa")
NOW = at("2025-06-01T10:00:40Z")
WORKLOAD = evaluate(Observed(named(SEED, "Deployment"), NOW, (named(SEED, "ReplicaSet"),)))
SA = ObjectRef("", "ServiceAccount", "msga-cn", "vault-svc")
CM = ObjectRef("", "ConfigMap", "msga-cn", "vault-config")


def ready(ref: ObjectRef) -> ResourceStatus:
    return ResourceStatus(ref, State.READY, "Exists", f"{ref.kind} exists")


def test_severity_order() -> None:
    order = [State.FAILED, State.BLOCKED, State.MISSING, State.UNKNOWN, State.TERMINATING,
             State.PROGRESSING, State.READY]  # fmt: skip
    assert sorted(State, key=lambda s: -s.severity) == order


def test_missing_service_account_blocks_the_component_and_is_the_root_cause() -> None:
    comp = component_status(WORKLOAD, (), (ready(CM), missing(SA)))
    assert (comp.state, comp.reason, comp.root_cause) == (State.BLOCKED, "MissingDependency", SA)
    assert comp.ref == WORKLOAD.ref
    assert "ServiceAccount msga-cn/vault-svc does not exist" in comp.message
    # The cluster's own words stay in the message.
    assert "error looking up service account msga-cn/vault-svc" in comp.message


def test_failed_workload_beats_a_missing_dependency() -> None:
    failed = ResourceStatus(WORKLOAD.ref, State.FAILED, "ProgressDeadlineExceeded", "timed out")
    comp = component_status(failed, (), (missing(SA),))
    assert (comp.state, comp.reason) == (State.FAILED, "ProgressDeadlineExceeded")


def test_pod_trouble_surfaces_with_the_pod_as_root_cause() -> None:
    healthy = ResourceStatus(WORKLOAD.ref, State.PROGRESSING, "WaitingForAvailable", "0 of 1")
    pod_ref = ObjectRef("", "Pod", "msga-cn", "common-vault-6c787c5cb5-abcde")
    pod = ResourceStatus(pod_ref, State.FAILED, "CrashLoopBackOff", "container vault: back-off")
    comp = component_status(healthy, (pod,), (ready(SA),))
    assert (comp.state, comp.root_cause) == (State.FAILED, pod_ref)
    assert comp.message == "pod common-vault-6c787c5cb5-abcde: container vault: back-off"


def test_blocked_heals_to_progressing_then_ready() -> None:
    blocked = component_status(WORKLOAD, (), (missing(SA),))
    rolling = ResourceStatus(WORKLOAD.ref, State.PROGRESSING, "WaitingForAvailable", "0 of 1")
    done = ResourceStatus(WORKLOAD.ref, State.READY, "Available", "1 of 1")
    steps = [blocked, component_status(rolling, (), (ready(SA),)),
             component_status(done, (), (ready(SA),))]  # fmt: skip
    assert [s.state for s in steps] == [State.BLOCKED, State.PROGRESSING, State.READY]


def test_terminating_pod_is_progress_not_deletion_of_the_component() -> None:
    done = ResourceStatus(WORKLOAD.ref, State.READY, "Available", "1 of 1")
    old = ResourceStatus(ObjectRef("", "Pod", "msga-cn", "p"), State.TERMINATING, "Deleting", "x")
    assert component_status(done, (old,)).state is State.PROGRESSING


def test_app_status_is_the_worst_part_with_its_root_cause() -> None:
    blocked = component_status(WORKLOAD, (), (missing(SA),))
    svc = ready(ObjectRef("", "Service", "msga-cn", "vault"))
    watch_down = unknown(
        ObjectRef("", "ConfigMap", "msga-cn", "x"), "WatchDisconnected", "watch down", NOW
    )
    app = app_status([blocked], [svc, watch_down])
    assert (app.state, app.root_cause, app.culprit) == (State.BLOCKED, SA, blocked)
    assert app.message.startswith("Deployment.apps msga-cn/common-vault: ServiceAccount")
    assert dict(app.counts) == {State.BLOCKED: 1, State.UNKNOWN: 1, State.READY: 1}


def test_app_all_ready() -> None:
    since = NOW - timedelta(minutes=1)
    parts = [ResourceStatus(SA, State.READY, "Exists", "ok", since)]
    app = app_status(parts)
    assert (app.state, app.root_cause, app.since) == (State.READY, None, since)


def test_app_with_no_parts_is_not_found_never_ready() -> None:
    app = app_status([])
    assert (app.state, app.reason) == (State.MISSING, "NotFound")
