"""The scenario table of status-anchors.md on the real control plane, rule by rule.

Each test creates objects in a fresh namespace, then polls the API (list/get every 0.2 s,
bounded) until the status rules report the expected state, and asserts the state, the
reason, the cluster's own words in the message, and the time to detection.

Who writes what: the controllers (deployment, replicaset, job, persistentvolume), the
scheduler and the API server's admission produce their parts for real. Container states
that only a kubelet produces (ImagePullBackOff, CrashLoopBackOff, OOMKilled,
CreateContainerConfigError) and the kubelet's FailedMount Event are written here through
the pods' status subresource and the Events API, exactly as a kubelet would, for pods
bound to a Node that kwok does not manage (so nothing overwrites them).

Set HELMGUARD_CAPTURE_FIXTURES=1 to save the seed scenario's objects under fixtures/.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from helmguard.manifest import K8sObject
from helmguard.status import (
    ResourceStatus,
    State,
    build_ownership,
    evaluate,
    index_events,
    observe,
)

POLL = 0.2
FIXTURES = Path(__file__).parent / "fixtures"
# A Node nobody runs: pods bound to it keep whatever status this test writes, as a kubelet would.
KUBELET_NODE = "kubelet-sim"
TOLERATE_ALL = [{"operator": "Exists"}]

NAMESPACED = (
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/apps/v1/namespaces/{ns}/replicasets",
    "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "/apis/batch/v1/namespaces/{ns}/jobs",
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/events",
)


def _items(api: httpx.Client, path: str) -> list[K8sObject]:
    reply = api.get(path)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # Lists omit each item's apiVersion and kind; put them back as a watch would show them.
    kind = body["kind"].removesuffix("List")
    return [
        K8sObject({"apiVersion": body["apiVersion"], "kind": kind, **item})
        for item in body["items"]
    ]


def snapshot(api: httpx.Client, ns: str) -> list[K8sObject]:
    """Everything the rules may look at in `ns`, read now."""
    objects: list[K8sObject] = []
    for path in NAMESPACED:
        objects.extend(_items(api, path.format(ns=ns)))
    return objects


def nodes_now(api: httpx.Client) -> list[K8sObject]:
    return _items(api, "/api/v1/nodes")


def status_now(api: httpx.Client, ns: str, kind: str, name: str) -> ResourceStatus | None:
    objects = snapshot(api, ns)
    events = [o for o in objects if o.kind == "Event"]
    tree = build_ownership(o for o in objects if o.kind != "Event")
    nodes = nodes_now(api)
    for obj in objects:
        if obj.kind == kind and obj.name == name:
            return evaluate(observe(obj, tree, datetime.now(UTC), index_events(events), nodes))
    return None


def wait_for_state(
    probe: Callable[[], ResourceStatus | None], want: State, timeout: float = 30
) -> tuple[ResourceStatus, float, list[State]]:
    """Poll until the status is `want`; returns it, seconds taken, and the states seen."""
    start = time.monotonic()
    seen: list[State] = []
    last: ResourceStatus | None = None
    while time.monotonic() - start < timeout:
        last = probe()
        if last is not None:
            if not seen or seen[-1] is not last.state:
                seen.append(last.state)
            if last.state is want:
                return last, time.monotonic() - start, seen
        time.sleep(POLL)
    raise AssertionError(f"no {want} within {timeout}s; states seen {seen}; last {last}")


def post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = api.post(path, json=body)
    assert reply.status_code == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


def deployment(name: str, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    spec = {"containers": [{"name": name, "image": "registry.example/app:1.0"}], **pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def report(record_property: Callable[[str, object], None], st: ResourceStatus, secs: float) -> None:
    record_property("detection_seconds", round(secs, 2))
    print(f"{st.ref}: {st.state} {st.reason} after {secs:.2f}s: {st.message}")


def capture(name: str, objects: list[K8sObject]) -> None:
    """Save objects as a fixture (managedFields stripped) when capturing is asked for."""
    if not os.environ.get("HELMGUARD_CAPTURE_FIXTURES"):
        return
    bodies = []
    for obj in objects:
        body = dict(obj.body)
        body["metadata"] = {k: v for k, v in obj.metadata.items() if k != "managedFields"}
        bodies.append(body)
    text = "# Captured from the sandbox control plane by test_sandbox_scenarios.py.\n"
    (FIXTURES / f"{name}.yaml").write_text(text + yaml.safe_dump_all(bodies, sort_keys=False))


# --- admission, quota, scheduling, controllers: all real ----------------------------------


def test_missing_service_account_blocks_then_heals(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    post(
        admin_http,
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        deployment("common-vault", serviceAccountName="vault-svc"),
    )

    def probe() -> ResourceStatus | None:
        return status_now(admin_http, ns, "Deployment", "common-vault")

    st, secs, _ = wait_for_state(probe, State.BLOCKED)
    report(record_property, st, secs)
    assert st.reason == "FailedCreate"
    assert f"error looking up service account {ns}/vault-svc" in st.message
    assert 'serviceaccount "vault-svc" not found' in st.message
    assert st.root_cause is not None and (st.root_cause.kind, st.root_cause.name) == (
        "ServiceAccount",
        "vault-svc",
    )
    assert st.since is not None
    assert secs < 10
    capture(
        "captured_seed",
        [o for o in snapshot(admin_http, ns) if o.kind in ("Deployment", "ReplicaSet", "Event")],
    )

    post(
        admin_http, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "vault-svc"}}
    )
    healed, heal_secs, seen = wait_for_state(probe, State.READY, timeout=90)
    report(record_property, healed, heal_secs)
    # Healing passes through Progressing (if a poll lands there) and never anything worse.
    assert set(seen) <= {State.BLOCKED, State.PROGRESSING, State.READY}, seen
    assert seen[-1] is State.READY


def test_quota_rejection_is_blocked(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    post(
        admin_http,
        f"/api/v1/namespaces/{ns}/resourcequotas",
        {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}},
    )
    deadline = time.monotonic() + 15
    # Quota admission refuses everything until the quota controller has computed status.used.
    while "used" not in admin_http.get(
        f"/api/v1/namespaces/{ns}/resourcequotas/no-pods"
    ).json().get("status", {}):
        assert time.monotonic() < deadline, "quota status never computed"
        time.sleep(POLL)
    post(admin_http, f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web"))
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "Deployment", "web"), State.BLOCKED
    )
    report(record_property, st, secs)
    assert st.reason == "FailedCreate"
    assert "exceeded quota: no-pods" in st.message
    assert st.root_cause is not None and st.root_cause.kind == "ResourceQuota"


def test_unschedulable_is_blocked_after_the_window(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    post(
        admin_http,
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        deployment("web", nodeSelector={"disktype": "nvme-nowhere"}),
    )
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "Deployment", "web"), State.BLOCKED
    )
    report(record_property, st, secs)
    assert st.reason == "Unschedulable"
    assert "didn't match Pod's node affinity/selector" in st.message
    assert st.root_cause is not None and st.root_cause.kind == "Pod"


def test_progress_deadline_exceeded_is_failed(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    body = deployment("web", serviceAccountName="nobody")
    body["spec"]["progressDeadlineSeconds"] = 1
    post(admin_http, f"/apis/apps/v1/namespaces/{ns}/deployments", body)
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "Deployment", "web"), State.FAILED, timeout=60
    )
    report(record_property, st, secs)
    assert st.reason == "ProgressDeadlineExceeded"
    assert "has timed out progressing" in st.message
    assert "error looking up service account" in st.message


def test_failed_job_deadline(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "activeDeadlineSeconds": 1,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"none": "x"},
                    "containers": [{"name": "m", "image": "busybox:1.36"}],
                }
            },
        },
    }
    post(admin_http, f"/apis/batch/v1/namespaces/{ns}/jobs", job)
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "Job", "migrate"), State.FAILED, timeout=60
    )
    report(record_property, st, secs)
    assert st.reason == "DeadlineExceeded"
    assert "Job was active longer than specified deadline" in st.message


def test_pvc_without_storage_class_is_blocked(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    # "" opts out of the sandbox's default StorageClass: only a pre-made volume could bind it.
    claim = {
        "metadata": {"name": "data"},
        "spec": {
            "storageClassName": "",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    post(admin_http, f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim)
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "PersistentVolumeClaim", "data"), State.BLOCKED
    )
    report(record_property, st, secs)
    assert st.reason == "FailedBinding"
    assert "no persistent volumes available for this claim" in st.message


def test_load_balancer_service_is_pending(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    # No selector: its endpoints are someone else's business, the address is what is judged.
    svc = {
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}]},
    }
    post(admin_http, f"/api/v1/namespaces/{ns}/services", svc)
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "Service", "web"), State.PROGRESSING, timeout=10
    )
    report(record_property, st, secs)
    assert st.reason == "LoadBalancerPending"
    assert "no load-balancer controller has assigned an address" in st.message


# --- what a controller has not observed yet is not Ready ------------------------------------

NO_SUCH_NODE_LABEL = {"helmguard.test/no-such-label": "true"}


def _workload(kind: str, name: str, **pod_spec: Any) -> dict[str, Any]:
    body = deployment(name, **pod_spec)
    body["kind"] = kind
    if kind == "DaemonSet":
        del body["spec"]["replicas"]
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = name
    return body


_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def test_fresh_workloads_with_a_missing_service_account_are_never_ready(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    """Status read right after create, then every 50 ms: Progressing until Blocked, never Ready.

    A DaemonSet's first status (before its controller has observed it) says 0 desired
    nodes; taken at its word that was Ready, while the pods can never be created.
    """
    ns = namespace
    created: dict[str, K8sObject] = {}
    for kind, plural in _PLURALS.items():
        path = f"/apis/apps/v1/namespaces/{ns}/{plural}"
        body = post(
            admin_http, path, _workload(kind, f"fresh-{plural}", serviceAccountName="absent")
        )
        created[kind] = K8sObject({"apiVersion": "apps/v1", "kind": kind, **body})
    now = datetime.now(UTC)
    nodes = nodes_now(admin_http)
    for kind, obj in created.items():
        # The object as the API server returned it on create: nothing observed yet.
        st = evaluate(observe(obj, build_ownership([obj]), now, None, nodes))
        assert st.state is State.PROGRESSING, (kind, st)
    seen: dict[str, list[State]] = {kind: [] for kind in created}
    final: dict[str, ResourceStatus] = {}
    start = time.monotonic()
    while time.monotonic() - start < 30 and len(final) < len(created):
        for kind, obj in created.items():
            st = status_now(admin_http, ns, kind, obj.name)
            assert st is not None
            if not seen[kind] or seen[kind][-1] is not st.state:
                seen[kind].append(st.state)
            if st.state is State.BLOCKED:
                final[kind] = st
        time.sleep(0.05)
    secs = time.monotonic() - start
    for kind in created:
        assert State.READY not in seen[kind], (kind, seen[kind])
        assert kind in final, (kind, seen[kind])
        st = final[kind]
        assert st.root_cause is not None, st
        assert (st.root_cause.kind, st.root_cause.name) == ("ServiceAccount", "absent"), st
        report(record_property, st, secs)
    # A PodDisruptionBudget as created has no status either: its controller writes one.
    pdb = {"metadata": {"name": "fresh"}, "spec": {"minAvailable": 1, "selector": {}}}
    budget = post(admin_http, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", pdb)
    fresh_pdb = K8sObject({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", **budget})
    assert evaluate(observe(fresh_pdb, build_ownership([]), now)).state is State.PROGRESSING
    # As created (nothing observed) with a Node, and as Blocked with what explains it.
    node = [n for n in nodes if n.name == "kwok-node-0"]
    capture("fresh", [*created.values(), fresh_pdb, *node])
    capture("fresh_blocked", snapshot(admin_http, ns))


def test_daemonset_no_node_matches_is_ready_and_says_which_selector(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    ns = namespace
    path = f"/apis/apps/v1/namespaces/{ns}/daemonsets"
    body = post(
        admin_http, path, _workload("DaemonSet", "nowhere", nodeSelector=NO_SUCH_NODE_LABEL)
    )
    created = K8sObject({"apiVersion": "apps/v1", "kind": "DaemonSet", **body})
    # As created its status already says 0 desired nodes: not Ready before its controller looked.
    first = evaluate(observe(created, build_ownership([]), datetime.now(UTC), None, []))
    assert first.state is State.PROGRESSING, first
    st, secs, _ = wait_for_state(
        lambda: status_now(admin_http, ns, "DaemonSet", "nowhere"), State.READY
    )
    report(record_property, st, secs)
    assert st.reason == "NoMatchingNodes"
    assert "nodeSelector helmguard.test/no-such-label=true excludes" in st.message
    capture("daemonset_no_node", [o for o in snapshot(admin_http, ns) if o.kind == "DaemonSet"])


def test_apiservice_is_ready_only_when_available(
    admin_http: httpx.Client, namespace: str, record_property: Callable[[str, object], None]
) -> None:
    group = f"{namespace}.helmguard.test"
    name = f"v1alpha1.{group}"
    body = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "version": "v1alpha1",
            "service": {"namespace": namespace, "name": "metrics-api", "port": 443},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 10,
        },
    }
    post(admin_http, "/apis/apiregistration.k8s.io/v1/apiservices", body)
    try:

        def status() -> ResourceStatus:
            obj = _items(admin_http, "/apis/apiregistration.k8s.io/v1/apiservices")
            found = next(o for o in obj if o.name == name)
            return evaluate(observe(found, build_ownership([]), datetime.now(UTC)))

        st, secs, _ = wait_for_state(status, State.BLOCKED)
        report(record_property, st, secs)
        assert st.reason == "ServiceNotFound"
        assert st.root_cause is not None and st.root_cause.name == "metrics-api"
        local = next(
            o
            for o in _items(admin_http, "/apis/apiregistration.k8s.io/v1/apiservices")
            if o.name == "v1.apps"
        )
        assert evaluate(observe(local, build_ownership([]), datetime.now(UTC))).state is State.READY
        services = _items(admin_http, "/apis/apiregistration.k8s.io/v1/apiservices")
        capture("apiservices", [o for o in services if o.name in (name, "v1.apps")])
    finally:
        admin_http.delete(f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")


# --- CRDs and custom resources -------------------------------------------------------------


def _crd(group: str, plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind, "singular": plural[:-1]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def crd_group(admin_http: httpx.Client) -> Iterator[str]:
    """A unique API group for this test's CRDs, all deleted afterwards."""
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    yield group
    for crd in _items(admin_http, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"):
        if crd.name.endswith(f".{group}"):
            admin_http.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd.name}")


def _crd_status(api: httpx.Client, name: str) -> ResourceStatus:
    body = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}").json()
    return evaluate(observe(K8sObject(body), build_ownership(()), datetime.now(UTC)))


def test_crd_name_conflict_is_failed_and_not_established(
    admin_http: httpx.Client, crd_group: str, record_property: Callable[[str, object], None]
) -> None:
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    post(admin_http, base, _crd(crd_group, "widgets", "Widget"))
    wait_for_state(lambda: _crd_status(admin_http, f"widgets.{crd_group}"), State.READY, timeout=15)
    post(admin_http, base, _crd(crd_group, "gadgets", "Widget"))  # same kind: a conflict
    st, secs, _ = wait_for_state(
        lambda: _crd_status(admin_http, f"gadgets.{crd_group}"), State.FAILED, timeout=15
    )
    report(record_property, st, secs)
    assert st.reason.endswith("Conflict")  # KindConflict or ListKindConflict, by check order
    assert "is already in use" in st.message


def test_custom_resource_stalled_is_failed(
    admin_http: httpx.Client,
    namespace: str,
    crd_group: str,
    record_property: Callable[[str, object], None],
) -> None:
    post(
        admin_http,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        _crd(crd_group, "widgets", "Widget"),
    )
    wait_for_state(lambda: _crd_status(admin_http, f"widgets.{crd_group}"), State.READY, 15)
    path = f"/apis/{crd_group}/v1/namespaces/{namespace}/widgets"

    def create() -> bool:
        return (
            admin_http.post(
                path,
                json={
                    "apiVersion": f"{crd_group}/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w1"},
                    "spec": {"size": "huge"},
                },
            ).status_code
            == 201
        )

    deadline = time.monotonic() + 15
    while not create():  # discovery of a just-established CRD can lag by a moment
        assert time.monotonic() < deadline
        time.sleep(POLL)
    stalled = {
        "conditions": [
            {
                "type": "Stalled",
                "status": "True",
                "reason": "InvalidSize",
                "message": 'spec.size "huge" is not offered',
                "lastTransitionTime": "2025-06-01T10:00:00Z",
            }
        ]
    }
    reply = admin_http.patch(
        f"{path}/w1/status",
        json={"status": stalled},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status_code == 200, reply.text

    def probe() -> ResourceStatus:
        body = admin_http.get(f"{path}/w1").json()
        return evaluate(observe(K8sObject(body), build_ownership(()), datetime.now(UTC)))

    st, secs, _ = wait_for_state(probe, State.FAILED, timeout=10)
    report(record_property, st, secs)
    assert (st.reason, st.message) == ("InvalidSize", 'spec.size "huge" is not offered')


# --- container states only a kubelet writes: written here as a kubelet would --------------


@pytest.fixture
def kubelet_pods(admin_http: httpx.Client, namespace: str) -> Iterator[str]:
    """The namespace for kubelet-less pods; they are force-deleted (no kubelet confirms)."""
    yield namespace
    for pod in _items(admin_http, f"/api/v1/namespaces/{namespace}/pods"):
        admin_http.delete(f"/api/v1/namespaces/{namespace}/pods/{pod.name}?gracePeriodSeconds=0")


@pytest.fixture(scope="module")
def kubelet_node(admin_http: httpx.Client) -> Iterator[str]:
    """A Node object that kwok does not manage (no kwok annotation)."""
    node = {"metadata": {"name": KUBELET_NODE, "labels": {"kubernetes.io/hostname": KUBELET_NODE}}}
    reply = admin_http.post("/api/v1/nodes", json=node)
    assert reply.status_code in (201, 409), reply.text
    yield KUBELET_NODE
    admin_http.delete(f"/api/v1/nodes/{KUBELET_NODE}")


def _bound_pod(api: httpx.Client, ns: str, name: str, node: str, **spec: Any) -> dict[str, Any]:
    body = {
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "tolerations": TOLERATE_ALL,
            "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
            **spec,
        },
    }
    return post(api, f"/api/v1/namespaces/{ns}/pods", body)


def _kubelet_status(api: httpx.Client, ns: str, name: str, container: dict[str, Any]) -> None:
    """Write the pod status a kubelet writes for a container that is not running."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    not_ready = {
        "status": "False",
        "reason": "ContainersNotReady",
        "lastTransitionTime": now,
        "message": "containers with unready status: [app]",
    }
    status = {
        "phase": container.pop("phase", "Pending"),
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", **not_ready},
            {"type": "ContainersReady", **not_ready},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "image": "registry.example/app:1.0",
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                **container,
            }
        ],
    }
    reply = api.patch(
        f"/api/v1/namespaces/{ns}/pods/{name}/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status_code == 200, reply.text


KUBELET_CASES = [
    (
        "pullbackoff",
        {
            "state": {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "registry.example/app:1.0": not found',
                }
            }
        },
        State.FAILED,
        "ImagePullBackOff",
        "Back-off pulling image",
    ),
    (
        "crashloop",
        {
            "phase": "Running",
            "restartCount": 4,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 1m20s restarting failed container=app",
                }
            },
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        },
        State.FAILED,
        "CrashLoopBackOff",
        "back-off 1m20s restarting failed container",
    ),
    (
        "oomkilled",
        {
            "phase": "Running",
            "restartCount": 2,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 20s restarting failed container=app",
                }
            },
            "lastState": {
                "terminated": {
                    "exitCode": 137,
                    "reason": "OOMKilled",
                    "finishedAt": "2025-06-01T10:00:00Z",
                }
            },
        },
        State.FAILED,
        "OOMKilled",
        "OOMKilled (exit code 137",
    ),
    (
        "configerror",
        {
            "state": {
                "waiting": {
                    "reason": "CreateContainerConfigError",
                    "message": 'configmap "app-env" not found',
                }
            }
        },
        State.BLOCKED,
        "CreateContainerConfigError",
        'configmap "app-env" not found',
    ),
]


@pytest.mark.parametrize(("name", "container", "state", "reason", "words"), KUBELET_CASES)
def test_kubelet_container_states(
    admin_http: httpx.Client,
    kubelet_pods: str,
    kubelet_node: str,
    record_property: Callable[[str, object], None],
    name: str,
    container: dict[str, Any],
    state: State,
    reason: str,
    words: str,
) -> None:
    """Pod status written through the status subresource as a kubelet would (kwok does not)."""
    spec: dict[str, Any] = {}
    if name == "configerror":
        spec = {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1.0",
                    "envFrom": [{"configMapRef": {"name": "app-env"}}],
                }
            ]
        }
    ns = kubelet_pods
    _bound_pod(admin_http, ns, name, kubelet_node, **spec)
    _kubelet_status(admin_http, ns, name, dict(container))
    st, secs, _ = wait_for_state(lambda: status_now(admin_http, ns, "Pod", name), state, timeout=10)
    report(record_property, st, secs)
    assert st.reason == reason
    assert words in st.message


def test_missing_secret_volume_failed_mount(
    admin_http: httpx.Client,
    kubelet_pods: str,
    kubelet_node: str,
    record_property: Callable[[str, object], None],
) -> None:
    """ContainerCreating written as a kubelet would, plus the kubelet's FailedMount Event."""
    ns = kubelet_pods
    pod = _bound_pod(
        admin_http,
        ns,
        "web",
        kubelet_node,
        volumes=[{"name": "tls", "secret": {"secretName": "web-tls"}}],
    )
    _kubelet_status(admin_http, ns, "web", {"state": {"waiting": {"reason": "ContainerCreating"}}})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "metadata": {"name": f"web.{uuid.uuid4().hex[:16]}"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "web",
            "namespace": ns,
            "uid": pod["metadata"]["uid"],
        },
        "reason": "FailedMount",
        "message": 'MountVolume.SetUp failed for volume "tls" : secret "web-tls" not found',
        "type": "Warning",
        "source": {"component": "kubelet", "host": kubelet_node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    post(admin_http, f"/api/v1/namespaces/{ns}/events", event)
    st, secs, _ = wait_for_state(lambda: status_now(admin_http, ns, "Pod", "web"), State.BLOCKED)
    report(record_property, st, secs)
    assert st.reason == "FailedMount"
    assert 'secret "web-tls" not found' in st.message
    assert st.root_cause is not None and (st.root_cause.kind, st.root_cause.name) == (
        "Secret",
        "web-tls",
    )
