"""HPA, CRD, Namespace, ReplicaSet and the generic conditions rule."""

from __future__ import annotations

from helmguard.manifest import K8sObject
from helmguard.status import State
from status.helpers import edited, load, named
from status.kinds import obj, run


def test_hpa_unable_to_scale_is_blocked() -> None:
    st = run(obj("HorizontalPodAutoscaler"))
    assert (st.state, st.reason) == (State.BLOCKED, "FailedGetScale")
    assert 'deployments/scale.apps "web-missing" not found' in st.message


def test_hpa_scaling_disabled_is_ready() -> None:
    disabled = {
        "type": "ScalingActive",
        "status": "False",
        "reason": "ScalingDisabled",
        "message": "scaling is disabled since the replica count of the target is zero",
    }
    off = edited(obj("HorizontalPodAutoscaler"), status__conditions=[disabled])
    assert run(off).state is State.READY


def test_crd_established_names_conflict_and_pending() -> None:
    crd = obj("CustomResourceDefinition")
    assert run(crd).state is State.READY
    conflict = {"type": "NamesAccepted", "status": "False", "reason": "ListKindConflict",
                "message": '"WidgetList" is already in use'}  # fmt: skip
    st = run(edited(crd, status__conditions=[conflict]))
    assert (st.state, st.reason) == (State.FAILED, "ListKindConflict")
    assert run(edited(crd, status__conditions=[])).state is State.PROGRESSING


def test_terminating_namespace_names_what_remains() -> None:
    st = run(obj("Namespace"))
    assert st.state is State.TERMINATING
    assert "widgets.example.com has 1 resource instances" in st.message


def test_custom_resource_stalled_is_failed() -> None:
    st = run(obj("Widget"))
    assert (st.state, st.reason) == (State.FAILED, "InvalidSize")
    assert 'spec.size "large" is not offered' in st.message


def test_custom_resource_conventions() -> None:
    widget = obj("Widget")

    def with_conditions(*conds: dict[str, str]) -> K8sObject:
        return edited(widget, status__conditions=list(conds))

    assert run(with_conditions({"type": "Ready", "status": "True"})).state is State.READY
    not_ready = run(with_conditions({"type": "Ready", "status": "False", "reason": "Waiting"}))
    assert (not_ready.state, not_ready.reason) == (State.PROGRESSING, "Waiting")
    assert (
        run(with_conditions({"type": "Reconciling", "status": "True"})).state is State.PROGRESSING
    )
    lag = edited(widget, metadata__generation=4, status__conditions=[])
    assert run(lag).reason == "ObservedGenerationLag"
    config_map = K8sObject({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert run(config_map).state is State.READY


def test_replicaset_failed_create() -> None:
    rs = named(load("seed_missing_sa"), "ReplicaSet")
    st = run(rs)
    assert (st.state, st.reason) == (State.BLOCKED, "FailedCreate")
    assert "error looking up service account msga-cn/vault-svc" in st.message


def _metric_failure(message: str) -> K8sObject:
    failing = {
        "type": "ScalingActive",
        "status": "False",
        "reason": "FailedGetResourceMetric",
        "message": message,
    }
    return edited(obj("HorizontalPodAutoscaler"), status__conditions=[failing])


def test_hpa_metrics_failures_lasting_or_not_yet() -> None:
    """The messages the v1.37 HPA controller gives (the first as recorded on the sandbox,
    which serves no metrics API): only the lasting ones are Blocked."""
    no_api = _metric_failure(
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "unable to get metrics for resource cpu: unable to fetch metrics from resource "
        "metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"
    )
    st = run(no_api)
    assert (st.state, st.reason) == (State.BLOCKED, "FailedGetResourceMetric")
    assert st.root_cause is not None and st.root_cause.name == "v1beta1.metrics.k8s.io"
    no_request = run(
        _metric_failure(
            "the HPA was unable to compute the replica count: failed to get cpu utilization: "
            "missing request for cpu in container web of Pod web-5d8f7-abcde"
        )
    )
    assert no_request.state is State.BLOCKED
    assert no_request.root_cause is not None and no_request.root_cause.kind == "Deployment"
    for not_yet in (
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "did not receive metrics for targeted pods (pods might be unready)",
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
    ):
        st = run(_metric_failure(not_yet))
        assert (st.state, st.reason) == (State.PROGRESSING, "FailedGetResourceMetric"), not_yet
