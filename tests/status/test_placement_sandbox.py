"""Where a DaemonSet's pods may run: helmguard's reading against the DaemonSet controller's.

`status.nodes.daemon_nodes` mirrors the controller's `NodeShouldRunDaemonPod`. Here the real
kube-controller-manager decides for a table of pod templates (nodeSelector, required node
affinity with every operator, matchFields, nodeName, tolerations against NoSchedule,
NoExecute and PreferNoSchedule taints, a cordoned node) on the sandbox's nodes plus three
kwok Nodes this module adds with labels and taints of their own (removed afterwards). A
ResourceQuota of zero pods keeps the controller from creating pods: it still counts
desired nodes. The test asserts, case by case, that desiredNumberScheduled equals the
number of nodes helmguard says may run the pods, and lists every case that differs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from helmguard.manifest import K8sObject
from helmguard.status.nodes import daemon_nodes
from kubeapi import wait_until

PREFIX = "hg-place-"
# Labels and taints no sandbox node has, so the cases hold with one kwok node or three.
NODES: dict[str, dict[str, Any]] = {
    "a": {
        "labels": {"hg.test/pool": "blue", "hg.test/size": "4"},
        "taints": [{"key": "hg.test/dedicated", "value": "gpu", "effect": "NoSchedule"}],
    },
    "b": {
        "labels": {"hg.test/pool": "green", "hg.test/size": "16"},
        "taints": [{"key": "hg.test/noisy", "effect": "PreferNoSchedule"}],
    },
    "c": {
        "labels": {"hg.test/pool": "blue", "hg.test/size": "big"},
        "taints": [{"key": "hg.test/drain", "value": "now", "effect": "NoExecute"}],
        "unschedulable": True,
    },
}
ALL = [{"operator": "Exists"}]


def _affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    required = {"nodeSelectorTerms": list(terms)}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


CASES: dict[str, dict[str, Any]] = {
    "no-constraints": {},
    "tolerate-everything": {"tolerations": ALL},
    "selector-blue": {"nodeSelector": {"hg.test/pool": "blue"}, "tolerations": ALL},
    "selector-blue-no-tolerations": {"nodeSelector": {"hg.test/pool": "blue"}},
    "selector-two-labels": {
        "nodeSelector": {"hg.test/pool": "blue", "hg.test/size": "4"},
        "tolerations": ALL,
    },
    "selector-nobody-has": {"nodeSelector": {"hg.test/no-such-label": "x"}, "tolerations": ALL},
    "tolerate-gpu-equal": {
        "nodeSelector": {"hg.test/pool": "blue"},
        "tolerations": [
            {
                "key": "hg.test/dedicated",
                "operator": "Equal",
                "value": "gpu",
                "effect": "NoSchedule",
            },
        ],
    },
    "tolerate-gpu-wrong-value": {
        "tolerations": [{"key": "hg.test/dedicated", "value": "cpu"}],
    },
    "tolerate-gpu-any-effect": {
        "tolerations": [{"key": "hg.test/dedicated", "operator": "Exists"}],
    },
    "tolerate-drain-wrong-effect": {
        "tolerations": [{"key": "hg.test/drain", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "tolerate-drain": {
        "tolerations": [{"key": "hg.test/drain", "operator": "Exists"}],
    },
    "host-network": {"hostNetwork": True},
    "affinity-in": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/pool", "In", "blue", "green")]}),
        "tolerations": ALL,
    },
    "affinity-not-in": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/pool", "NotIn", "blue")]}),
        "tolerations": ALL,
    },
    "affinity-exists": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/size", "Exists")]}),
        "tolerations": ALL,
    },
    "affinity-does-not-exist": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/size", "DoesNotExist")]}),
        "tolerations": ALL,
    },
    "affinity-gt": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/size", "Gt", "8")]}),
        "tolerations": ALL,
    },
    "affinity-lt": {
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/size", "Lt", "8")]}),
        "tolerations": ALL,
    },
    "fields-in": {
        "affinity": _affinity({"matchFields": [_expr("metadata.name", "In", f"{PREFIX}b")]}),
        "tolerations": ALL,
    },
    "fields-not-in": {
        "affinity": _affinity({"matchFields": [_expr("metadata.name", "NotIn", f"{PREFIX}b")]}),
        "tolerations": ALL,
    },
    "terms-are-ored": {
        "affinity": _affinity(
            {"matchExpressions": [_expr("hg.test/pool", "In", "green")]},
            {"matchFields": [_expr("metadata.name", "In", f"{PREFIX}a")]},
        ),
        "tolerations": ALL,
    },
    "term-parts-are-anded": {
        "affinity": _affinity(
            {
                "matchExpressions": [_expr("hg.test/pool", "In", "blue")],
                "matchFields": [_expr("metadata.name", "NotIn", f"{PREFIX}a")],
            }
        ),
        "tolerations": ALL,
    },
    "selector-and-affinity": {
        "nodeSelector": {"hg.test/pool": "blue"},
        "affinity": _affinity({"matchExpressions": [_expr("hg.test/size", "Exists")]}),
        "tolerations": ALL,
    },
    "node-name": {"nodeName": f"{PREFIX}b", "tolerations": ALL},
}


def _daemonset(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example/a:1"}], **spec},
            },
        },
    }


def _nodes(api: httpx.Client) -> list[K8sObject]:
    body = api.get("/api/v1/nodes").json()
    return [K8sObject({"apiVersion": "v1", "kind": "Node", **item}) for item in body["items"]]


def _taints(nodes: list[K8sObject]) -> dict[str, object]:
    return {n.name: sorted(str(t) for t in n.spec.get("taints") or ()) for n in nodes}


@pytest.fixture(scope="module")
def placement_nodes(admin_http: httpx.Client) -> Iterator[list[str]]:
    """Three kwok Nodes with labels and taints of their own, Ready as kwok keeps them."""
    names = []
    for suffix, spec in NODES.items():
        name = f"{PREFIX}{suffix}"
        body = {
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {**spec["labels"], "kubernetes.io/hostname": name},
            },
            "spec": {"taints": spec["taints"], "unschedulable": spec.get("unschedulable", False)},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        }
        reply = admin_http.post("/api/v1/nodes", json=body)
        assert reply.status_code in (201, 409), reply.text
        names.append(name)

    def settled() -> bool:
        # kwok reports them Ready; the node lifecycle controller has tainted the cordoned one.
        ours = {n.name: n for n in _nodes(admin_http) if n.name in names}
        ready = all(
            any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            for conditions in (n.status.get("conditions") or () for n in ours.values())
        )
        cordoned = ours.get(f"{PREFIX}c")
        return (
            len(ours) == len(names)
            and ready
            and cordoned is not None
            and "node.kubernetes.io/unschedulable" in str(cordoned.spec.get("taints"))
            and not any("unreachable" in str(n.spec.get("taints")) for n in ours.values())
        )

    try:
        wait_until(settled, "the test Nodes to be Ready and cordoned as asked", 30)
        yield names
    finally:
        for name in names:
            admin_http.delete(f"/api/v1/nodes/{name}")


def test_daemon_placement_matches_the_daemonset_controller(
    admin_http: httpx.Client, namespace: str, placement_nodes: list[str]
) -> None:
    quota = {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    reply = admin_http.post(f"/api/v1/namespaces/{namespace}/resourcequotas", json=quota)
    assert reply.status_code == 201, reply.text
    before = _taints(_nodes(admin_http))
    base = f"/apis/apps/v1/namespaces/{namespace}/daemonsets"
    for case, spec in CASES.items():
        reply = admin_http.post(base, json=_daemonset(case, spec))
        assert reply.status_code == 201, f"{case}: {reply.text}"

    def all_observed() -> list[dict[str, Any]] | None:
        items = admin_http.get(base).json()["items"]
        observed = [
            d
            for d in items
            if (d.get("status") or {}).get("observedGeneration") == d["metadata"]["generation"]
        ]
        return items if len(observed) == len(CASES) else None

    started = time.monotonic()
    daemonsets = wait_until(all_observed, "the controller to observe every DaemonSet", 60)
    nodes = _nodes(admin_http)
    assert _taints(nodes) == before, "node taints changed during the test; the comparison is void"

    differing = []
    for ds in daemonsets:
        template = ds["spec"]["template"]["spec"]
        fitting, excluded = daemon_nodes(template, nodes)
        desired = ds["status"].get("desiredNumberScheduled", 0)
        if desired != len(fitting):
            differing.append(
                f"{ds['metadata']['name']}: controller {desired}, helmguard {len(fitting)} "
                f"({[n.name for n in fitting]}; excluded {excluded})"
            )
    assert not differing, "placement differs from the DaemonSet controller:\n" + "\n".join(
        differing
    )
    # The table is worth something only if it exercises both answers on the test Nodes.
    ours = [n for n in nodes if n.name in placement_nodes]
    counts = {len(daemon_nodes(d["spec"]["template"]["spec"], ours)[0]) for d in daemonsets}
    assert {0, 1, 2, 3} <= counts, counts
    assert time.monotonic() - started < 60
