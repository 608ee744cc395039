"""`SecretCluster` on the sandbox (the Secret in it, the connection to it): a Secret missing
at start, created, changed without changing the connection, changed to one that describes
none. The sync it runs is a real `ClusterSupervisor` into a real SQLite store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import ClusterConfig, load_config
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import AppRecord, ObservedStatus, ReleaseKey, ReleaseRecord, Store
from helmguard.sync.secret_cluster import SecretCluster
from helmguard.sync.supervisor import ClusterSupervisor


async def _until(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while not (found := await check()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return found


def _now(value: Any) -> Callable[[], Awaitable[Any]]:
    """An awaitable probe of a synchronous one."""

    async def probe() -> Any:
        return value()

    return probe


async def test_the_sync_follows_the_secret(
    sandbox: Sandbox, namespace: str, kube: Kube, store: Store
) -> None:
    home = load_config(sandbox.kubeconfig, sandbox.admin_context)
    key = ReleaseKey(namespace, "web", "b")
    now = datetime.now(UTC)
    await store.record_release(ReleaseRecord(key, "labelled", "0.1.0", 1, "deployed"))
    ready = ObservedStatus(ObjectRef("", "ConfigMap", namespace, "x"), "Ready", "", "", now, now)
    await store.upsert_statuses([(key, ready)], [(key, AppRecord("Ready", "", "", now, now))])
    lines: list[str] = []
    built: list[ClusterConfig] = []

    def runner(config: ClusterConfig) -> ClusterSupervisor:
        built.append(config)

        async def connect() -> Kube:
            return await connect_config(config, verify=False)

        return ClusterSupervisor(connect, store, cluster="b", discover_helm=False)

    async def connect_home() -> Kube:
        return await connect_config(home, verify=False)

    cluster = SecretCluster(
        connect_home, f"{namespace}/cluster-b", runner, store=store, cluster="b", grace=0.5,
        announce=lines.append,
    )  # fmt: skip
    task = asyncio.create_task(cluster.run())
    secrets = f"/api/v1/namespaces/{namespace}/secrets"
    try:
        # No Secret yet: no sync, the release Unknown naming the Secret, readiness says so.
        async def unknown() -> Any:
            stored = await store.get_release(key)
            assert stored is not None and stored.app is not None
            return stored.app.state == "Unknown" and stored.app

        app = await _until(unknown, "the release stored Unknown")
        assert f"Secret {namespace}/cluster-b does not exist" in app.message, app
        assert cluster.current is None and "does not exist" in lines[-1], lines
        await asyncio.sleep(0.6)
        readiness = cluster.readiness()
        assert not readiness.ready and f"Secret {namespace}/cluster-b" in readiness.detail

        data = base64.b64encode(sandbox.kubeconfig.read_bytes()).decode()
        body = {"metadata": {"name": "cluster-b"}, "data": {"kubeconfig": data}}
        await kube.send_json("POST", secrets, body)
        first = await _until(_now(lambda: cluster.current), "a sync with the Secret's connection")
        assert isinstance(first, ClusterSupervisor)
        await _until(_now(lambda: first.synced), "its first sync")
        assert cluster.readiness().ready
        assert built[-1].target.server == sandbox.server
        assert built[-1].target.source == f"Secret {namespace}/cluster-b key kubeconfig"

        # A label changes the Secret, not the connection: the same sync goes on.
        labelled = {**body, "metadata": {"name": "cluster-b", "labels": {"a": "b"}}}
        await kube.send_json("PUT", f"{secrets}/cluster-b", labelled)
        await asyncio.sleep(1.0)
        assert cluster.current is first and len(built) == 1

        # Now it describes no connection: the sync stops, readiness names the problem.
        emptied = {"metadata": {"name": "cluster-b"}, "data": {"other": data}}
        await kube.send_json("PUT", f"{secrets}/cluster-b", emptied)
        await _until(_now(lambda: cluster.current is None), "the sync stopped")
        await asyncio.sleep(0.6)
        readiness = cluster.readiness()
        assert not readiness.ready and "has neither a 'kubeconfig' key" in readiness.detail
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await store.sync_holder("b") is None  # the stopped sync gave its lease up
