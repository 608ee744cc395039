"""Two replicas on one store and one sandbox: one syncs, the other takes over when it stops."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.store import open_store
from helmguard.sync.leader import ElectionTimings
from helmguard.sync.replica import ElectedSupervisor, Election
from helmguard.sync.supervisor import ClusterSupervisor

FAST = ElectionTimings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.25)


async def test_one_replica_syncs_and_the_other_takes_over(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    config = load_config(sandbox.kubeconfig, sandbox.admin_context)
    store = await open_store(str(tmp_path / "helmguard.db"))
    lines: list[str] = []

    async def connect() -> Kube:
        return await connect_config(config, verify=False)

    def replica(identity: str) -> ElectedSupervisor:
        return ElectedSupervisor(
            connect,
            lambda: ClusterSupervisor(connect, store, elected=True, announce=lines.append),
            Election(namespace, "sync", identity, FAST),
            store=store,
            announce=lines.append,
        )

    a, b = replica("a"), replica("b")
    try:
        run_a = asyncio.create_task(a.run())
        async with asyncio.timeout(30):
            while a.supervisor is None or not a.supervisor.synced:
                assert a.readiness().ready == (a.supervisor is None)
                await asyncio.sleep(0.02)
        assert a.readiness().ready
        run_b = asyncio.create_task(b.run())
        await asyncio.sleep(FAST.lease_duration * 1.5)
        assert b.supervisor is None and b.readiness().ready  # a follower, ready
        holder = await store.sync_holder()
        assert holder is not None
        run_a.cancel()
        await asyncio.gather(run_a, return_exceptions=True)
        stopped = time.monotonic()
        # A clean stop gives the store lease up too (b, seeing the Lease released, may
        # already hold a new one by now: never a's).
        after = await store.sync_holder()
        assert after is None or after.holder != holder.holder
        async with asyncio.timeout(30):
            while b.supervisor is None or not b.supervisor.synced:
                assert not run_b.done()
                await asyncio.sleep(0.02)
        # a released its Lease: b takes over on its next attempt.
        assert time.monotonic() - stopped < FAST.retry_period * 2.2 + 3
        assert await store.sync_holder() is not None
        assert "serve: a leads the cluster (Lease " + namespace + "/sync): syncing" in lines
        run_b.cancel()
        await asyncio.gather(run_b, return_exceptions=True)
    finally:
        await store.close()
