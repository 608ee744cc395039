"""deploy, upgrade, atomic, rollback and uninstall on the real sandbox control plane."""
# ruff: noqa: ASYNC212 - the sync admin client only inspects the cluster between awaited steps

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.chart.render import RenderRequest, render_chart
from helmguard.chart.values import ValuesOptions
from helmguard.deploy import (
    DeployOptions,
    LogRecord,
    ReleaseLocked,
    Result,
    deploy,
    plan,
    read_history,
)
from helmguard.deploy.cluster import Cluster
from helmguard.deploy.observe import observe_release
from helmguard.deploy.rollback import rollback
from helmguard.deploy.uninstall import uninstall
from helmguard.kube.client import connect
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.status import State
from helmguard.store import ReleaseKey, Store
from kubeapi import delete_namespace

CHARTS = Path(__file__).parent / "charts"
SEED = Path(__file__).parents[2] / "examples" / "vault-seed"


def _request(chart: Path, release: str, namespace: str, *sets: str) -> RenderRequest:
    return RenderRequest(
        chart=str(chart),
        release=release,
        namespace=namespace,
        values=ValuesOptions(set_values=sets),
    )


@pytest.fixture
def options(sandbox: Sandbox) -> DeployOptions:
    return DeployOptions(kubeconfig=str(sandbox.kubeconfig), timeout=90)


@pytest.fixture
def fresh_ns(admin_http: httpx.Client) -> Iterator[str]:
    """A namespace name nobody uses; the chart creates it; deleted afterwards if left."""
    name = f"d-{uuid.uuid4().hex[:10]}"
    yield name
    if admin_http.get(f"/api/v1/namespaces/{name}").status_code == 200:
        delete_namespace(admin_http, name)


def _fullstack(ns: str, *sets: str) -> RenderRequest:
    # A CRD group per namespace so tests never share a cluster-scoped CRD.
    return _request(CHARTS / "fullstack", "demo", ns, f"group={ns}.helmguard.test", *sets)


def _get(api: httpx.Client, ref: ObjectRef, ns_plural: str) -> httpx.Response:
    return api.get(ns_plural.format(ns=ref.namespace, name=ref.name))


async def test_fullstack_deploys_in_dependency_order_and_uninstalls_clean(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str
) -> None:
    request = _fullstack(fresh_ns)
    result = await deploy(request, options, store=store)
    assert result.outcome == "deployed", result.message
    the_plan = plan(render_chart(request))
    applied = {a.ref: a for a in result.applied}
    assert set(applied) == {o.ref for o in the_plan.objects}
    assert all(a.created for a in applied.values())
    # The API server's own resourceVersions prove the order: every dependency was written first.
    for edge in the_plan.edges:
        before, after = applied[edge.before], applied[edge.after]
        assert int(before.resource_version) < int(after.resource_version), edge
    widgets = f"/apis/{fresh_ns}.helmguard.test/v1/namespaces/{fresh_ns}/widgets"
    assert len(admin_http.get(widgets).json()["items"]) == 2
    pods = admin_http.get(f"/api/v1/namespaces/{fresh_ns}/pods").json()["items"]
    assert len(pods) == 2
    revisions = await store.list_revisions(ReleaseKey(fresh_ns, "demo"))
    assert [(r.number, r.outcome) for r in revisions] == [(1, "deployed")]
    log = await store.operation_log(ReleaseKey(fresh_ns, "demo"), 1)
    steps = [e.step for e in log]
    assert steps.count("object.applied") == len(applied)
    assert "gate.passed" in steps and steps[-1] == "verdict"
    recorded = {
        e.details["ref"]: e.details["resourceVersion"] for e in log if e.step == "object.applied"
    }
    assert recorded == {str(r): a.resource_version for r, a in applied.items()}
    # The Secret's contents never reached the database.
    revision = revisions[0]
    assert "not-a-real-password" not in str(revision.plan) + str([e.details for e in log])

    gone = await uninstall(fresh_ns, "demo", options, store=store)
    assert gone.outcome == "uninstalled", gone.message
    assert set(gone.deleted) >= set(applied)
    assert admin_http.get(f"/api/v1/namespaces/{fresh_ns}").status_code == 404
    crd = (
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{fresh_ns}.helmguard.test"
    )
    assert admin_http.get(crd).status_code == 404
    binding = f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{fresh_ns}-demo-fs-widgets"
    assert admin_http.get(binding).status_code == 404
    assert await store.get_release(ReleaseKey(fresh_ns, "demo")) is None


async def test_seed_chart_is_refused_by_preflight_with_nothing_created(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str
) -> None:
    result = await deploy(_request(SEED, "common", fresh_ns), options, store=store)
    assert result.outcome == "refused"
    assert result.revision == 0 and result.applied == ()
    assert "HG101" in {f.code for f in result.report.findings} if result.report else False
    assert f"ServiceAccount {fresh_ns}/vault-svc" in result.message
    assert admin_http.get(f"/api/v1/namespaces/{fresh_ns}").status_code == 404
    assert await store.list_releases() == []


async def test_seed_forced_fails_fast_with_root_cause_then_heals(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str, sandbox: Sandbox
) -> None:
    started = time.monotonic()
    result = await deploy(
        _request(SEED, "common", fresh_ns), DeployOptions(**{**options.__dict__, "force": True})
    )
    elapsed = time.monotonic() - started
    assert result.outcome == "failed"
    assert result.message.startswith("Blocked: Deployment.apps")
    assert f"(ReplicaSet {fresh_ns}/common-vault-" in result.message
    assert "FailedCreate" in result.message
    assert f"error looking up service account {fresh_ns}/vault-svc" in result.message
    assert result.root_cause == ObjectRef("", "ServiceAccount", fresh_ns, "vault-svc")
    assert elapsed < 30, elapsed  # not a timeout: the deploy's budget is 90 s
    assert any(r.step == "preflight.skipped" and r.level == "warning" for r in result.log)

    # Create what was missing; the same Deployment heals without a redeploy.
    created = admin_http.post(
        f"/api/v1/namespaces/{fresh_ns}/serviceaccounts", json={"metadata": {"name": "vault-svc"}}
    )
    assert created.status_code == 201, created.text
    ref = ObjectRef("apps", "Deployment", fresh_ns, "common-vault")
    kube = await connect(sandbox.kubeconfig)
    try:
        cluster = Cluster(kube, deadline=time.monotonic() + 120)
        seen: list[State] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = (await observe_release(cluster, [ref])).statuses[ref]
            if not seen or seen[-1] is not status.state:
                seen.append(status.state)
            if status.state is State.READY:
                break
            await asyncio.sleep(0.5)
        assert seen[-1] is State.READY, seen
    finally:
        await kube.aclose()
    await uninstall(fresh_ns, "common", options)


async def test_upgrade_prunes_removed_objects(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str
) -> None:
    first = await deploy(_fullstack(fresh_ns), options, store=store)
    assert first.outcome == "deployed", first.message
    extra = f"/api/v1/namespaces/{fresh_ns}/configmaps/demo-fs-extra"
    assert admin_http.get(extra).status_code == 200
    second = await deploy(_fullstack(fresh_ns, "extraConfig.enabled=false"), options, store=store)
    assert second.outcome == "deployed", second.message
    assert second.revision == 2
    assert second.pruned == (ObjectRef("", "ConfigMap", fresh_ns, "demo-fs-extra"),)
    assert admin_http.get(extra).status_code == 404
    cm = admin_http.get(f"/api/v1/namespaces/{fresh_ns}/configmaps/demo-fs-config").json()
    assert cm["metadata"]["annotations"]["helmguard.io/revision"] == "2"
    assert cm["metadata"]["annotations"]["helmguard.io/release"] == f"{fresh_ns}/demo"
    assert cm["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"
    assert cm["metadata"]["annotations"]["meta.helm.sh/release-namespace"] == fresh_ns
    # Helm's label, as helm's install and upgrade set it; the chart's others as rendered.
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    await uninstall(fresh_ns, "demo", options, store=store)


async def test_atomic_restores_previous_revision_and_rollback_command(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str
) -> None:
    first = await deploy(_fullstack(fresh_ns, "extraConfig.enabled=false"), options, store=store)
    assert first.outcome == "deployed", first.message
    # The cluster preflight's server dry run sees the bad port: refused, nothing applied.
    refused = await deploy(_fullstack(fresh_ns, "brokenService=true"), options, store=store)
    assert refused.outcome == "refused" and "spec.ports[0].port" in refused.message
    atomic = DeployOptions(**{**options.__dict__, "atomic": True, "force": True})
    failed = await deploy(_fullstack(fresh_ns, "brokenService=true"), atomic, store=store)
    assert failed.outcome == "rolled-back", failed.message
    assert failed.error_class == "Invalid"
    assert "demo-fs-broken" in failed.message
    assert failed.rollback is not None and failed.rollback.ok
    assert "restored revision 1 as revision 3" in failed.rollback.message
    # Revision 2 had created the extra ConfigMap before failing; restoring 1 removed it.
    extra = f"/api/v1/namespaces/{fresh_ns}/configmaps/demo-fs-extra"
    assert admin_http.get(extra).status_code == 404
    assert (
        admin_http.get(f"/api/v1/namespaces/{fresh_ns}/services/demo-fs-broken").status_code == 404
    )
    outcomes = [
        (r.number, r.outcome) for r in await store.list_revisions(ReleaseKey(fresh_ns, "demo"))
    ]
    assert outcomes == [(1, "deployed"), (2, "failed"), (3, "deployed")]

    back = await rollback(fresh_ns, "demo", 2, options, store=store)
    # Revision 2 never worked: rolling back to it fails the same way, truthfully.
    assert back.outcome == "failed" and back.error_class == "Invalid"
    again = await rollback(fresh_ns, "demo", 1, options, store=store)
    assert again.outcome == "deployed", again.message
    assert again.revision == 5
    await uninstall(fresh_ns, "demo", options, store=store)


async def test_two_deploys_of_one_release_at_once(
    options: DeployOptions, admin_http: httpx.Client, fresh_ns: str
) -> None:
    request = _fullstack(fresh_ns)
    results = await asyncio.gather(
        deploy(request, options), deploy(request, options), return_exceptions=True
    )
    locked = [r for r in results if isinstance(r, ReleaseLocked)]
    done = [r for r in results if isinstance(r, Result)]
    assert len(locked) == 1 and len(done) == 1, results
    assert done[0].outcome == "deployed"
    assert f"release {fresh_ns}/demo is locked" in locked[0].message
    # The winner gave the Lease back: the next operation goes through.
    assert (await uninstall(fresh_ns, "demo", options)).outcome == "uninstalled"


async def test_unknown_kind_stops_the_deploy(
    options: DeployOptions, store: Store, namespace: str
) -> None:
    request = _request(CHARTS / "unknown-kind", "u", namespace)
    refused = await deploy(request, options, store=store)
    assert refused.outcome == "refused" and "Gizmo" in refused.message
    forced = DeployOptions(**{**options.__dict__, "force": True})
    result = await deploy(request, forced, store=store)
    assert result.outcome == "failed"
    assert result.error_class == "MissingDependency"
    assert 'no matches for kind "Gizmo"' in result.message
    assert ObjectRef("gizmos.nowhere.test", "Gizmo", namespace, "u-gizmo") not in {
        a.ref for a in result.applied
    }
    revisions = await store.list_revisions(ReleaseKey(namespace, "u"))
    assert [r.outcome for r in revisions] == ["failed"]


async def test_object_owned_by_someone_else_is_not_taken_over(
    options: DeployOptions, admin_http: httpx.Client, namespace: str
) -> None:
    body: dict[str, Any] = {
        "metadata": {
            "name": "u-settings",
            "annotations": {"meta.helm.sh/release-name": "other"},
        },
        "data": {"mode": "theirs"},
    }
    created = admin_http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body)
    assert created.status_code == 201, created.text
    forced = DeployOptions(**{**options.__dict__, "force": True})
    result = await deploy(_request(CHARTS / "unknown-kind", "u", namespace), forced)
    # Refused before the record is written, as helm's existingResourceConflict refuses.
    assert result.outcome == "refused" and result.revision == 0
    assert f"release '{namespace}/other'" in result.message
    assert result.root_cause is not None and result.root_cause.name == "u-settings"
    records = admin_http.get(
        f"/api/v1/namespaces/{namespace}/secrets", params={"labelSelector": "owner=helm,name=u"}
    )
    assert records.json()["items"] == []
    cm = admin_http.get(f"/api/v1/namespaces/{namespace}/configmaps/u-settings").json()
    assert cm["data"] == {"mode": "theirs"}


async def test_interrupted_deploy_is_recorded_with_what_was_applied(
    options: DeployOptions, store: Store, admin_http: httpx.Client, fresh_ns: str, sandbox: Sandbox
) -> None:
    task: asyncio.Task[Result] | None = None

    def cancel_after_first_wave(record: LogRecord) -> None:
        # What Ctrl-C does to `asyncio.run`: the running deploy task is cancelled.
        if record.step == "wave.applied" and task is not None:
            task.cancel()

    task = asyncio.create_task(
        deploy(_fullstack(fresh_ns), options, store=store, listeners=[cancel_after_first_wave])
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    key = ReleaseKey(fresh_ns, "demo")
    assert [(r.number, r.outcome) for r in await store.list_revisions(key)] == [(1, "interrupted")]
    log = await store.operation_log(key, 1)
    interrupted = [e for e in log if e.step == "interrupted"]
    assert interrupted
    applied = {a["name"] for a in interrupted[0].details["applied"]}
    assert f"{fresh_ns}" in applied  # wave 0: the Namespace, the CRD, the ClusterRole
    kube = await connect(sandbox.kubeconfig)
    try:
        history = await read_history(
            Cluster(kube, deadline=time.monotonic() + 30), fresh_ns, "demo"
        )
    finally:
        await kube.aclose()
    assert [(h.revision, h.outcome) for h in history] == [(1, "interrupted")]
    assert {str(r) for r in history[0].inventory} == {
        str(e.details["ref"]) for e in log if e.step == "object.applied"
    }
    # The Lease was given back: uninstall can run, and removes what the interrupted one applied.
    gone = await uninstall(fresh_ns, "demo", options, store=store)
    assert gone.outcome == "uninstalled", gone.message
    assert admin_http.get(f"/api/v1/namespaces/{fresh_ns}").status_code == 404


async def test_hooks_run_around_the_waves_with_their_delete_policies(
    options: DeployOptions, admin_http: httpx.Client, namespace: str
) -> None:
    result = await deploy(_request(CHARTS / "hooked", "h", namespace), options)
    assert result.outcome == "deployed", result.message
    steps = [(r.step, r.details.get("ref")) for r in result.log]
    pre = steps.index(("hook.succeeded", f"ConfigMap {namespace}/h-pre"))
    wave = steps.index(("object.applied", f"ConfigMap {namespace}/h-settings"))
    post = steps.index(("hook.applied", f"ConfigMap {namespace}/h-post"))
    assert pre < wave < post
    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    assert admin_http.get(f"{configmaps}/h-pre").status_code == 404  # hook-succeeded
    assert admin_http.get(f"{configmaps}/h-post").status_code == 200
    # Hooks are not release objects: the inventory holds only the regular ConfigMap.
    assert [str(a.ref) for a in result.applied] == [f"ConfigMap {namespace}/h-settings"]


async def test_uninstall_names_what_is_stuck_and_why(
    options: DeployOptions, admin_http: httpx.Client, namespace: str
) -> None:
    result = await deploy(_request(CHARTS / "hooked", "h", namespace), options)
    assert result.outcome == "deployed", result.message
    settings = f"/api/v1/namespaces/{namespace}/configmaps/h-settings"
    held = admin_http.patch(
        settings,
        json={"metadata": {"finalizers": ["example.com/hold"]}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert held.status_code == 200, held.text
    try:
        # Long enough for a loaded machine to reach the wait; the ConfigMap never goes.
        short = DeployOptions(**{**options.__dict__, "timeout": 20})
        stuck = await uninstall(namespace, "h", short)
        assert stuck.outcome == "failed"
        assert f"ConfigMap {namespace}/h-settings is Terminating" in stuck.message
        assert "waiting for finalizers example.com/hold" in stuck.message
    finally:
        admin_http.patch(
            settings,
            json={"metadata": {"finalizers": None}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
