"""Fresh workloads whose ServiceAccount is missing, as `status --live` and serve's sync see them.

The race is the point: objects are created and their status is read at once, then every
50 ms, before their controllers have observed them. Neither path may say Ready at any
moment; both end Blocked on the ServiceAccount. Also: a DaemonSet no node matches is Ready
in both, saying which selector, and Progressing-then-Ready once its controller looked.
"""

from __future__ import annotations

from typing import Any

from helmguard.deploy.status import live_status
from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.status import State
from helmguard.store import ReleaseKey, Store
from helmguard.sync import Sync, register_release
from helmguard.sync.releases import ManagedRelease
from helmguard.sync.selector import parse_selector
from sync.scenario import INSTANCE, create, deployment, eventually, row

KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def _workload(kind: str, release: str, service_account: str, **pod_spec: Any) -> dict[str, Any]:
    body = deployment(f"fresh-{kind.lower()}", release, service_account)
    body["kind"] = kind
    body["spec"]["template"]["spec"].update(pod_spec)
    if kind == "DaemonSet":
        del body["spec"]["replicas"]
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = body["metadata"]["name"]
    return body


async def _create_all(kube: Kube, ns: str, release: str) -> list[ObjectRef]:
    refs = []
    for kind, plural in KINDS.items():
        body = _workload(kind, release, "absent")
        await create(kube, f"/apis/apps/v1/namespaces/{ns}/{plural}", body)
        refs.append(ObjectRef("apps", kind, ns, body["metadata"]["name"]))
    return refs


async def test_status_live_never_says_ready_before_the_controllers_looked(
    kube: Kube, namespace: str
) -> None:
    key = ReleaseKey(namespace, "fresh")
    release = ManagedRelease(key, parse_selector(f"{INSTANCE}=fresh"))
    refs = await _create_all(kube, namespace, "fresh")
    sa = ObjectRef("", "ServiceAccount", namespace, "absent")
    seen: dict[ObjectRef, list[str]] = {r: [] for r in refs}

    async def all_blocked() -> bool:
        live = await live_status(kube, release)
        members = {m.ref: m for m in live.members}
        for ref in refs:
            status = members.get(ref)
            assert status is not None, (ref, list(members))
            if not seen[ref] or seen[ref][-1] != status.state.value:
                seen[ref].append(status.state.value)
            assert status.state is not State.READY, (ref, status)
        assert live.app.state is not State.READY, live.app
        return all(members[r].state is State.BLOCKED and members[r].root_cause == sa for r in refs)

    await eventually(all_blocked, "every workload Blocked on the ServiceAccount", within=30)
    assert all("Ready" not in states for states in seen.values()), seen


async def test_serve_never_stores_ready_before_the_controllers_looked(
    kube: Kube, store: Store, namespace: str
) -> None:
    key = ReleaseKey(namespace, "fresh")
    await register_release(store, key, f"{INSTANCE}=fresh")
    sync = Sync(kube, store, tick=0.5)
    await sync.start()
    try:
        refs = await _create_all(kube, namespace, "fresh")
        sa = ObjectRef("", "ServiceAccount", namespace, "absent")

        async def all_blocked() -> bool:
            rows = [await row(store, key, ref) for ref in refs]
            return all(r is not None and r.state == "Blocked" and r.root_cause == sa for r in rows)

        await eventually(all_blocked, "every workload stored Blocked", within=30)
        await sync.wait_idle()
        for ref in refs:
            states = [t.to_state for t in await store.history(key, ref=ref)]
            assert states and "Ready" not in states, (ref, states)
    finally:
        await sync.stop()


async def test_daemonset_no_node_matches_is_ready_saying_which_selector(
    kube: Kube, store: Store, namespace: str
) -> None:
    key = ReleaseKey(namespace, "agent")
    await register_release(store, key, f"{INSTANCE}=agent")
    sync = Sync(kube, store, tick=0.5)
    await sync.start()
    try:
        body = _workload(
            "DaemonSet", "agent", "default", nodeSelector={"helmguard.test/no-such-label": "on"}
        )
        await create(kube, f"/apis/apps/v1/namespaces/{namespace}/daemonsets", body)
        ref = ObjectRef("apps", "DaemonSet", namespace, body["metadata"]["name"])

        async def ready() -> object:
            r = await row(store, key, ref)
            return r if r is not None and r.state == "Ready" else None

        found, _ = await eventually(ready, "the DaemonSet stored Ready", within=30)
        assert found.reason == "NoMatchingNodes"
        assert "nodeSelector helmguard.test/no-such-label=on excludes" in found.message
        live = await live_status(kube, ManagedRelease(key, parse_selector(f"{INSTANCE}=agent")))
        member = next(m for m in live.members if m.ref == ref)
        assert (member.state, member.reason) == (State.READY, "NoMatchingNodes")
    finally:
        await sync.stop()
