"""The gate between waves, on the sandbox: what this operation's apply showed usable is not
read again; what it did not (a CRD, whose Established condition comes later) still is."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.engine import Engine
from helmguard.deploy.oplog import OperationLog
from helmguard.graph.order import build_plan
from helmguard.kube.client import connect
from helmguard.manifest import K8sObject
from helmguard.sandbox.cluster import Sandbox
from kubeapi import delete_namespace


@pytest.fixture
def ns(admin_http: httpx.Client) -> Iterator[str]:
    name = f"g-{uuid.uuid4().hex[:10]}"
    created = admin_http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert created.status_code == 201, created.text
    yield name
    delete_namespace(admin_http, name)


def _objects(ns: str) -> list[K8sObject]:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
    labels = {"app": "web"}
    pod = {
        "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
        "volumes": [{"name": "config", "configMap": {"name": "settings"}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    return [
        K8sObject({**o, "metadata": {**o["metadata"], "namespace": ns}})
        for o in (config, deployment)
    ]


async def test_a_dependency_this_operation_applied_is_not_read_again_at_the_gate(
    sandbox: Sandbox, ns: str
) -> None:
    plan = build_plan(_objects(ns))
    assert [[o.kind for o in w.objects] for w in plan.waves] == [["ConfigMap"], ["Deployment"]]
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        for kind, group in (("ConfigMap", ""), ("Deployment", "apps")):
            await cluster.resource(group, kind)  # discovery read before counting
        log = OperationLog()
        engine = Engine(cluster, log, ns, "web", 1)
        before = kube.requests
        await engine.run_waves(plan)
        sent = kube.requests - before
    finally:
        await kube.aclose()
    # Per wave one list (does it exist: created or configured) and one apply; no list of
    # the ConfigMaps again at the gate: the apply's answer showed it exists.
    assert sent == 4, sent
    gates = [r.message for r in log.records if r.step == "gate.passed"]
    assert gates == ["wave 1: 1 dependencies established"], gates
