"""`serve --leader-elect` replicas and a cluster none of them can reach: nobody holds its
Lease, so a follower stores its releases Unknown (ClusterUnreachable) once the store's sync
of it is silent, once for all replicas; while a sync elsewhere still heartbeats, nothing.

The cluster is a kubeconfig whose server is a loopback port nothing listens on (connection
refused, as from a stopped API server); the store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.manifest import ObjectRef
from helmguard.store import (
    AppRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    Store,
    app_ref,
)
from helmguard.sync.leader import ElectionTimings
from helmguard.sync.replica import ElectedSupervisor, Election
from helmguard.sync.supervisor import ClusterSupervisor

FAST = ElectionTimings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.25)
SETTINGS = ObjectRef("", "ConfigMap", "shop", "web-settings")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: away\n"
        f"clusters: [{{name: away, cluster: {{server: 'https://127.0.0.1:{_closed_port()}', "
        "insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: away, context: {cluster: away, user: u}}]\n"
    )
    return path


async def _ready_release(store: Store, key: ReleaseKey) -> None:
    """A release as a sync left it before the outage: its ConfigMap and itself Ready."""
    now = datetime.now(UTC)
    await store.record_release(ReleaseRecord(key, "labelled", "0.1.0", 1, "deployed"))
    ready = ObservedStatus(SETTINGS, "Ready", "Exists", "", now, now)
    await store.upsert_statuses([(key, ready)], [(key, AppRecord("Ready", "Ready", "", now, now))])


def _replicas(store: Store, kubeconfig: Path, cluster: str, n: int) -> list[ElectedSupervisor]:
    config = load_config(kubeconfig)

    async def connect() -> Kube:
        return await connect_config(config, verify=False)

    def supervisor() -> ClusterSupervisor:
        return ClusterSupervisor(connect, store, cluster=cluster, elected=True)

    return [
        ElectedSupervisor(
            connect,
            supervisor,
            Election("default", f"sync-{cluster}", f"replica-{i}", FAST),
            store=store,
            cluster=cluster,
            name=f"cluster {cluster}",
            grace=1.0,
        )
        for i in range(n)
    ]


async def _running(replicas: list[ElectedSupervisor], seconds: float) -> None:
    """Run the replicas for `seconds`; at the end each follows and names the cluster nobody
    leads in its readiness (its grace, 1 s, is over)."""
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        await asyncio.sleep(seconds)
        for task in tasks:
            assert not task.done(), task
        for replica in replicas:
            assert replica.supervisor is None and replica.leaderless is not None
            ready = replica.readiness()
            assert not ready.ready and ready.detail == replica.leaderless.message, ready
            assert "no replica holds its Lease" in ready.detail, ready
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_followers_store_an_unreachable_clusters_releases_unknown_once(
    store: Store, kubeconfig: Path
) -> None:
    key = ReleaseKey("shop", "web", "a")
    other = ReleaseKey("shop", "web", "b")  # another cluster's release: not this one's to mark
    await _ready_release(store, key)
    await _ready_release(store, other)
    await _running(_replicas(store, kubeconfig, "a", 2), 3.0)
    release = await store.get_release(key)
    assert release is not None and release.app is not None
    assert (release.app.state, release.app.reason) == ("Unknown", "ClusterUnreachable")
    assert "cluster a cannot be reached since" in release.app.message
    assert "no replica holds its Lease default/sync-a" in release.app.message
    [row] = await store.list_resources(key)
    assert (row.state, row.reason) == ("Unknown", "ClusterUnreachable")
    # Two replicas, a dozen periods each: one transition per object, none repeated.
    for ref in (SETTINGS, app_ref(key)):
        changes = [(t.from_state, t.to_state) for t in await store.history(key, ref=ref)]
        assert changes == [("Ready", "Unknown"), (None, "Ready")], (ref, changes)
    untouched = await store.get_release(other)
    assert untouched is not None and untouched.app is not None
    assert untouched.app.state == "Ready"


async def test_nothing_is_marked_while_a_sync_elsewhere_heartbeats(
    store: Store, kubeconfig: Path
) -> None:
    key = ReleaseKey("shop", "web", "a")
    await _ready_release(store, key)
    # An elected sync of cluster a runs elsewhere (it reaches the cluster, this replica not).
    await store.acquire_sync("a", take_over=True)
    [replica] = _replicas(store, kubeconfig, "a", 1)
    task = asyncio.create_task(replica.run())
    await asyncio.sleep(2.0)
    # Not leaderless: the sync elsewhere leads it (this replica is ready, a follower).
    assert replica.leaderless is None and replica.readiness().ready
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    release = await store.get_release(key)
    assert release is not None and release.app is not None
    assert release.app.state == "Ready"
