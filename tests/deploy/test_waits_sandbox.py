"""What a deploy waits for, on the sandbox: nothing fresh is Ready, nothing hopeless is awaited.

The `workloads` chart (one Deployment, StatefulSet or DaemonSet, optionally behind a
Service) is deployed with helmguard's deploy action:

- a fresh workload whose ServiceAccount does not exist fails the deploy, Blocked on that
  ServiceAccount, for every kind (a DaemonSet's first status says 0 desired nodes);
- one whose pods mount a ConfigMap that does not exist fails it as soon as its controller
  has created pods (no controller will say more), not after the confirmation timer; a
  ConfigMap the look missed but the cluster has does not fail it;
- a LoadBalancer Service no controller gives an address is reported, not waited for,
  unless asked;
- a Service whose only backends can run no pod (a DaemonSet no node matches, pods no node
  can take) ends the deploy at once, naming them.

Node selectors use a label no sandbox node has, so the tests hold with one node or three.
"""
# ruff: noqa: ASYNC212 - the sync admin client only edits the cluster between awaited steps

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from helmguard.chart.render import RenderRequest
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import DeployOptions, deploy
from helmguard.deploy.cluster import Cluster
from helmguard.deploy.engine import _CONFIRM_SECONDS, Engine
from helmguard.deploy.observe import read_collection, verdict
from helmguard.deploy.oplog import OperationLog
from helmguard.deploy.uninstall import uninstall
from helmguard.kube.client import connect
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.status import State
from helmguard.sync.look import assemble, looks_at
from kubeapi import delete_namespace

CHART = Path(__file__).parent / "charts" / "workloads"
NOWHERE = "nodeSelector.helmguard\\.test/no-such-label=present"


def _request(release: str, namespace: str, *sets: str) -> RenderRequest:
    return RenderRequest(
        chart=str(CHART),
        release=release,
        namespace=namespace,
        values=ValuesOptions(set_values=sets),
    )


@pytest.fixture
def options(sandbox: Sandbox) -> DeployOptions:
    return DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=60, force=True)


@pytest.fixture
def ns(admin_http: httpx.Client) -> Iterator[str]:
    name = f"w-{uuid.uuid4().hex[:10]}"
    created = admin_http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert created.status_code == 201, created.text
    yield name
    delete_namespace(admin_http, name)


@pytest.mark.parametrize("kind", ["DaemonSet", "Deployment", "StatefulSet"])
async def test_fresh_workload_with_missing_service_account_fails_the_deploy(
    options: DeployOptions, ns: str, kind: str
) -> None:
    started = time.monotonic()
    result = await deploy(_request("app", ns, f"kind={kind}", "serviceAccount=absent"), options)
    elapsed = time.monotonic() - started
    assert result.outcome == "failed", result.message
    assert result.message.startswith(f"Blocked: {kind}.apps {ns}/app"), result.message
    assert result.root_cause == ObjectRef("", "ServiceAccount", ns, "absent")
    assert "all resources Ready" not in result.message
    assert elapsed < 30, elapsed  # decided, not timed out (budget 60 s)
    # No wait transition ever said Ready for the workload.
    states = [
        r.details.get("state")
        for r in result.log
        if r.step == "wait.transition" and r.details.get("ref") == f"{kind}.apps {ns}/app"
    ]
    assert states and "Ready" not in states, states
    await uninstall(ns, "app", options)


@pytest.mark.parametrize("kind", ["DaemonSet", "Deployment", "StatefulSet"])
async def test_a_missing_config_map_fails_the_deploy_once_pods_exist_not_after_a_timer(
    options: DeployOptions, ns: str, kind: str
) -> None:
    result = await deploy(_request("app", ns, f"kind={kind}", "configMap=absent"), options)
    assert result.outcome == "failed", result.message
    assert result.message.startswith(f"Blocked: {kind}.apps {ns}/app"), result.message
    assert result.root_cause == ObjectRef("", "ConfigMap", ns, "absent")
    workload = f"{kind}.apps {ns}/app"
    blocked = next(
        r
        for r in result.log
        if r.step == "wait.transition"
        and r.details.get("ref") == workload
        and r.details.get("state") == "Blocked"
    )
    decided = next(r for r in result.log if r.step == "verdict")
    # The pods' controller never words a missing ConfigMap: waiting for it took the whole
    # confirmation timer (>= _CONFIRM_SECONDS) before; now the read after the pods decides.
    assert decided.at - blocked.at < timedelta(seconds=_CONFIRM_SECONDS - 1), (
        decided.at - blocked.at
    )
    await uninstall(ns, "app", options)


async def test_a_config_map_the_look_missed_but_the_cluster_has_does_not_fail_the_deploy(
    options: DeployOptions, ns: str, admin_http: httpx.Client, sandbox: Sandbox
) -> None:
    made = admin_http.post(
        f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "settings"}}
    )
    assert made.status_code == 201, made.text
    result = await deploy(_request("app", ns, "configMap=settings"), options)
    assert result.outcome == "deployed", result.message
    ref = ObjectRef("apps", "Deployment", ns, "app")
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 60)
        plan = looks_at([ref])
        listed = {c: await read_collection(cluster, plan, c) for c in plan.collections}
        # As a ConfigMap watch that has not delivered the ConfigMap yet would show it.
        listed[("", "ConfigMap", ns)] = []
        snap = assemble(plan, listed, None)
        outcome = verdict([snap.statuses[ref]], snap)
        assert outcome.done and outcome.state is State.BLOCKED, outcome
        assert outcome.root_cause == ObjectRef("", "ConfigMap", ns, "settings")
        engine = Engine(cluster, OperationLog(), ns, "app", 1)
        # Pods exist and the ConfigMap does: wait (the watch brings it), do not fail.
        assert await engine._confirming(outcome, snap, {})
        gone = admin_http.delete(f"/api/v1/namespaces/{ns}/configmaps/settings")
        assert gone.status_code == 200, gone.text
        # Pods exist and the ConfigMap does not: decided now, without the timer.
        assert not await engine._confirming(outcome, snap, {})
    finally:
        await kube.aclose()
    await uninstall(ns, "app", options)


async def test_load_balancer_without_address_is_reported_not_waited_for(
    options: DeployOptions, ns: str
) -> None:
    started = time.monotonic()
    result = await deploy(
        _request("web", ns, "service.enabled=true", "service.type=LoadBalancer"), options
    )
    elapsed = time.monotonic() - started
    assert result.outcome == "deployed", result.message
    waited = [r.message for r in result.log if r.step == "wait.ready"]
    assert waited and f"not waited for: Service {ns}/web" in waited[0], waited
    warnings = [r for r in result.log if r.step == "wait.load-balancer"]
    assert len(warnings) == 1 and warnings[0].level == "warning"
    assert "no load-balancer controller has assigned an address" in warnings[0].message
    assert elapsed < 30, elapsed
    await uninstall(ns, "web", options)


async def test_ingress_without_controller_is_reported_not_waited_for(
    options: DeployOptions, ns: str
) -> None:
    """No ingress controller runs on the sandbox (nor on many clusters): the Ingress never
    gets an address. The deploy says so and ends when the workload is Ready."""
    started = time.monotonic()
    sets = ("service.enabled=true", "ingress.enabled=true", "ingress.className=nginx")
    result = await deploy(_request("web", ns, *sets), options)
    elapsed = time.monotonic() - started
    assert result.outcome == "deployed", result.message
    waited = [r.message for r in result.log if r.step == "wait.ready"]
    assert waited and f"not waited for: Ingress.networking.k8s.io {ns}/web" in waited[0], waited
    warnings = [r.message for r in result.log if r.step == "wait.load-balancer"]
    assert len(warnings) == 1, warnings
    assert "no ingress controller has assigned an address" in warnings[0], warnings
    assert elapsed < 30, elapsed
    await uninstall(ns, "web", options)


async def test_wait_for_load_balancers_waits_and_says_for_what(
    options: DeployOptions, ns: str
) -> None:
    waiting = replace(options, wait_for_load_balancers=True, timeout=12)
    result = await deploy(
        _request("web", ns, "service.enabled=true", "service.type=LoadBalancer"), waiting
    )
    assert result.outcome == "failed", result.message
    assert "timed out" in result.message
    assert "LoadBalancerPending" in result.message
    assert "no load-balancer controller has assigned an address" in result.message
    # No uninstall: after a timed-out deploy the release Lease may outlive it (issue 11,
    # clean-up after the deadline); the namespace's deletion removes the objects.


async def test_service_whose_daemonset_runs_nowhere_fails_at_once_naming_it(
    options: DeployOptions, ns: str
) -> None:
    started = time.monotonic()
    result = await deploy(
        _request("agent", ns, "kind=DaemonSet", "service.enabled=true", NOWHERE), options
    )
    elapsed = time.monotonic() - started
    assert result.outcome == "failed", result.message
    assert result.message.startswith(f"Blocked: Service {ns}/agent NoBackendPods"), result.message
    assert "nodeSelector helmguard.test/no-such-label=present excludes" in result.message
    assert result.root_cause == ObjectRef("apps", "DaemonSet", ns, "agent")
    assert elapsed < 20, elapsed
    await uninstall(ns, "agent", options)


async def test_service_whose_pods_no_node_can_take_names_them(
    options: DeployOptions, ns: str
) -> None:
    started = time.monotonic()
    result = await deploy(
        _request("api", ns, "kind=Deployment", "service.enabled=true", NOWHERE), options
    )
    elapsed = time.monotonic() - started
    assert result.outcome == "failed", result.message
    assert "Unschedulable" in result.message, result.message
    assert result.root_cause is not None and result.root_cause.kind == "Pod", result.root_cause
    assert result.root_cause.name.startswith("api-")
    assert elapsed < 30, elapsed  # the scheduler's verdict lasts 5 s before it counts
    await uninstall(ns, "api", options)
