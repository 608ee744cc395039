"""Reliability on a private sandbox: kube-apiserver killed mid-sync, and 410 Gone after a restart.

The sandbox is this module's own (started in a temporary HELMGUARD_SANDBOX_HOME), because
its kube-apiserver is SIGKILLed and restarted with the same command line
(`helmguard.sandbox.cluster.restart_component`).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from helmguard.deploy.status import live_status
from helmguard.kube.client import Kube
from helmguard.kube.config import load_config
from helmguard.kube.informer import Informer, object_key
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox, restart_component, sandbox_down, sandbox_up
from helmguard.store import ReleaseKey, Store, open_store
from helmguard.sync import Sync, load_release, register_release
from kubeapi import sandbox_home
from sync.scenario import app_of, compact_etcd, create, deployment, eventually, row

NAME = "reliability"
# Each test runs on a private sandbox of its own (killing its API server, compacting etcd).
pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("private-sandboxes")
    with sandbox_home(path):
        sandbox_up(NAME)
    try:
        yield path
    finally:
        with sandbox_home(path):
            sandbox_down(NAME)


def kill_apiserver(home: Path) -> None:
    with sandbox_home(home):
        from helmguard.sandbox.cluster import load_sandbox

        pid = load_sandbox(NAME).pids["kube-apiserver"]
    os.killpg(pid, signal.SIGKILL)


def restart_apiserver(home: Path) -> Sandbox:
    with sandbox_home(home):
        return restart_component(NAME, "kube-apiserver", timeout=120)


@pytest.fixture
async def private_kube(home: Path) -> AsyncIterator[Kube]:
    with sandbox_home(home):
        from helmguard.sandbox.cluster import load_sandbox

        sb = load_sandbox(NAME)
    async with Kube(load_config(sb.kubeconfig, sb.admin_context)) as kube:
        yield kube


async def new_namespace(kube: Kube, name: str) -> str:
    await kube.send_json("POST", "/api/v1/namespaces", {"metadata": {"name": name}})

    async def default_sa() -> bool:
        try:
            await kube.get_json(f"/api/v1/namespaces/{name}/serviceaccounts/default")
        except Exception:
            return False
        return True

    await eventually(default_sa, f"ServiceAccount {name}/default")
    return name


def labelled_cm(name: str, release: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/instance": release}},
        "data": {"k": "v"},
    }


async def test_apiserver_killed_mid_sync_goes_unknown_then_matches_the_cluster(
    private_kube: Kube, home: Path, tmp_path: Path
) -> None:
    kube = private_kube
    ns = await new_namespace(kube, "kill-apiserver")
    key = ReleaseKey(ns, "shop")
    store: Store = await open_store(str(tmp_path / "hg.db"))
    await register_release(store, key, "app.kubernetes.io/instance=shop")
    await create(kube, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "web"}})
    await create(
        kube, f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("web", "shop", "web")
    )
    for name in ("cfg-a", "cfg-b"):
        await create(kube, f"/api/v1/namespaces/{ns}/configmaps", labelled_cm(name, "shop"))
    web = ObjectRef("apps", "Deployment", ns, "web")
    cfg_a = ObjectRef("", "ConfigMap", ns, "cfg-a")
    cfg_b = ObjectRef("", "ConfigMap", ns, "cfg-b")
    sync = Sync(kube, store, tick=0.5, inactivity_timeout=10)
    await sync.start()
    try:

        async def all_ready() -> bool:
            rows = [await row(store, key, ref) for ref in (web, cfg_a, cfg_b)]
            return all(r is not None and r.state == "Ready" for r in rows)

        await eventually(all_ready, "every member Ready", within=60)

        kill_apiserver(home)

        async def all_unknown() -> bool:
            rows = [await row(store, key, ref) for ref in (web, cfg_a, cfg_b)]
            app = await app_of(store, key)
            states = [r.state if r is not None else None for r in [*rows, app]]
            return states == ["Unknown"] * 4

        _, took = await eventually(all_unknown, "statuses to turn Unknown", within=30)
        unknown_row = await row(store, key, cfg_a)
        assert unknown_row is not None and unknown_row.reason == "WatchDisconnected"
        assert "watch disconnected since" in unknown_row.message
        assert took < 10, f"Unknown after {took:.1f}s"

        restart_apiserver(home)
        # Changes the sync has not seen yet: it is still backing off or re-listing.
        await kube.send_json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/cfg-b")
        await kube.send_json(
            "PATCH",
            f"/apis/apps/v1/namespaces/{ns}/deployments/web",
            {"spec": {"template": {"spec": {"serviceAccountName": "gone"}}}},
            content_type="application/merge-patch+json",
        )

        async def caught_up() -> bool:
            a, b, w = [await row(store, key, r) for r in (cfg_a, cfg_b, web)]
            return bool(
                a
                and a.state == "Ready"
                and b
                and b.state == "Missing"
                and w
                and w.state == "Blocked"
            )

        await eventually(caught_up, "the store to catch up after the restart", within=90)
        await sync.wait_idle()
        # The final stored state equals what the cluster says now.
        record = await store.get_release(key)
        assert record is not None
        live = await live_status(kube, await load_release(store, record))
        stored = {r.ref: r.state for r in await store.list_resources(key)}
        assert stored == {m.ref: m.state.value for m in live.members}
        # No transition lost: each object went Unknown and then to its new state.
        for ref, final in ((cfg_a, "Ready"), (cfg_b, "Missing"), (web, "Blocked")):
            states = [t.to_state for t in reversed(await store.history(key, ref=ref))]
            assert "Unknown" in states, (ref, states)
            assert final in states[states.index("Unknown") :], (ref, states)
    finally:
        await sync.stop()
        await store.close()


async def test_watch_from_a_compacted_version_gets_410_and_relists(
    private_kube: Kube, home: Path
) -> None:
    kube = private_kube
    ns = await new_namespace(kube, "gone")
    for name in ("stays", "goes"):
        await create(kube, f"/api/v1/namespaces/{ns}/configmaps", labelled_cm(name, "x"))
    resource = (await kube.discovery.resources()).for_kind("", "ConfigMap")
    assert resource is not None
    seen: list[tuple[str, str]] = []

    async def record(kind: str, body: dict[str, Any]) -> None:
        seen.append((kind, object_key(body)))

    first = Informer(kube, resource, record, namespace=ns)
    first.start()
    await asyncio.wait_for(first.synced.wait(), 30)
    await first.stop()
    old_version = first.resource_version
    await kube.send_json("DELETE", f"/api/v1/namespaces/{ns}/configmaps/goes")
    # History is gone twice over: etcd compacted, and a restarted API server's watch cache
    # starts at the current version.
    with sandbox_home(home):
        from helmguard.sandbox.cluster import load_sandbox

        compact_etcd(load_sandbox(NAME))
    kill_apiserver(home)
    restart_apiserver(home)
    seen.clear()
    resumed = Informer(
        kube, resource, record, namespace=ns, resource_version=old_version, cache=first.cache
    )
    resumed.start()
    try:

        async def relisted() -> bool:
            return resumed.stats.expired >= 1 and ("DELETED", f"{ns}/goes") in seen

        await eventually(relisted, "410 Gone and the DELETED from the re-list", within=60)
        assert ("DELETED", f"{ns}/goes") in seen
        assert f"{ns}/stays" in resumed.cache and f"{ns}/goes" not in resumed.cache
    finally:
        await resumed.stop()
