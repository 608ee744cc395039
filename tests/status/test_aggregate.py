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
    service_status,
    unknown,
)
from status.helpers import at, edited, load, named

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


# --- a Service without ready endpoints, judged by the workloads behind its selector --------

KINDS = load("kinds")
NO_NODE = load("daemonset_no_node")
FRESH_NODES = [named(load("fresh"), "Node")]
NOT_READY = evaluate(
    Observed(
        edited(named(KINDS, "Service"), spec__type="ClusterIP"),
        NOW,
        (named(KINDS, "EndpointSlice"),),
    )
)


def _no_endpoints() -> ResourceStatus:
    empty = edited(named(KINDS, "EndpointSlice"), endpoints=[])
    svc = edited(named(KINDS, "Service"), spec__type="ClusterIP")
    return evaluate(Observed(svc, NOW, (empty,)))


def test_service_takes_a_blocked_backend_and_its_root_cause_at_once() -> None:
    assert NOT_READY.reason == "NoReadyEndpoints"
    st = service_status(NOT_READY, [WORKLOAD])
    assert (st.state, st.root_cause, st.ref) == (State.BLOCKED, SA, NOT_READY.ref)
    assert st.message.startswith(f"no ready endpoints: backend {WORKLOAD.ref}: ")


def test_service_behind_a_daemonset_no_node_may_run_is_blocked_on_it() -> None:
    ds = evaluate(Observed(named(NO_NODE, "DaemonSet"), NOW, nodes=FRESH_NODES))
    assert (ds.state, ds.reason) == (State.READY, "NoMatchingNodes")
    st = service_status(_no_endpoints(), [ds])
    assert (st.state, st.reason, st.root_cause) == (State.BLOCKED, "NoBackendPods", ds.ref)
    assert "nodeSelector helmguard.test/no-such-label=true excludes kwok-node-0" in st.message


def test_service_behind_workloads_scaled_to_zero_is_ready_as_asked() -> None:
    sts = named(KINDS, "StatefulSet")
    zero = edited(sts, spec__replicas=0, status__replicas=0, status__readyReplicas=0,
                  status__availableReplicas=0, status__currentReplicas=0,
                  status__updatedReplicas=0)  # fmt: skip
    idle = evaluate(Observed(zero, NOW))
    assert (idle.state, idle.reason) == (State.READY, "ScaledToZero")
    st = service_status(_no_endpoints(), [idle])
    assert (st.state, st.reason) == (State.READY, "ScaledToZero")
    assert "scaled to zero" in st.message


def test_service_waits_while_a_backend_is_on_its_way() -> None:
    rolling = ResourceStatus(WORKLOAD.ref, State.PROGRESSING, "RollingOut", "0 of 1 updated")
    ds = evaluate(Observed(named(NO_NODE, "DaemonSet"), NOW, nodes=FRESH_NODES))
    assert service_status(NOT_READY, [rolling, ds]) == NOT_READY
    assert service_status(NOT_READY, []) == NOT_READY  # nothing of the release behind it
    ready_svc = ResourceStatus(NOT_READY.ref, State.READY, "Ready", "1 of 1 endpoints ready")
    assert service_status(ready_svc, [WORKLOAD]) == ready_svc
