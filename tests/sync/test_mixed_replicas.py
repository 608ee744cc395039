"""A sync without --leader-elect beside an elected replica on one store and one sandbox: it
follows the store while the elected one syncs (whichever started first), syncs when no
sync is alive, and never ends. Two plain syncs are still refused (the second is told).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.store import SyncRunning, open_store
from helmguard.sync.leader import ElectionTimings
from helmguard.sync.replica import ElectedSupervisor, Election
from helmguard.sync.supervisor import ClusterSupervisor

FAST = ElectionTimings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.25)


async def _until(probe: Any, what: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    try:
        async with asyncio.timeout(timeout):
            while not probe():  # noqa: ASYNC110 - the supervisors are read by polling
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_sync_without_leader_election_follows_an_elected_one(
    sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    config = load_config(sandbox.kubeconfig, sandbox.admin_context)
    db = str(tmp_path / "helmguard.db")
    # Two processes' worth of stores on one SQLite file.
    elected_store, plain_store = await open_store(db), await open_store(db)
    lines: list[str] = []

    async def connect() -> Kube:
        return await connect_config(config, verify=False)

    def elected(identity: str) -> ElectedSupervisor:
        return ElectedSupervisor(
            connect,
            lambda: ClusterSupervisor(connect, elected_store, elected=True, announce=lines.append),
            Election(namespace, "sync", identity, FAST),
            store=elected_store,
            announce=lines.append,
        )

    plain = ClusterSupervisor(connect, plain_store, name="the plain one", announce=lines.append)
    tasks: list[asyncio.Task[None]] = []
    try:
        first = elected("e1")
        tasks.append(asyncio.create_task(first.run()))
        await _until(lambda: first.supervisor is not None and first.supervisor.synced, "e1 to sync")
        # The elected one syncs first: the plain one follows, ready, writing nothing.
        run_plain = asyncio.create_task(plain.run())
        tasks.append(run_plain)
        await _until(lambda: plain.following is not None, "the plain one to follow")
        await asyncio.sleep(3)  # a heartbeat or two: still following, still running
        assert not run_plain.done() and plain.sync is None and plain.readiness().ready
        holder = await plain_store.sync_holder()
        assert holder is not None and holder.elected
        assert any("the plain one is synced by a `serve --leader-elect` replica" in line
                   for line in lines), lines  # fmt: skip

        # The elected one stops: no sync alive, the plain one syncs.
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        await _until(lambda: plain.sync is not None, "the plain one to sync", 30)
        holder = await plain_store.sync_holder()
        assert holder is not None and not holder.elected
        assert any("no sync of the plain one is alive in the store" in line for line in lines)

        # A second plain sync is refused, as before, naming the first.
        with pytest.raises(SyncRunning, match="Stop it first to run another sync"):
            await elected_store.acquire_sync()

        # An elected replica comes back: it takes the store's sync lease over; the plain one
        # follows again instead of ending.
        second = elected("e2")
        tasks.append(asyncio.create_task(second.run()))
        await _until(
            lambda: second.supervisor is not None and second.supervisor.synced, "e2 to sync"
        )
        await _until(lambda: plain.following is not None, "the plain one to follow again")
        await asyncio.sleep(3)
        assert not run_plain.done() and plain.sync is None and plain.readiness().ready
        holder = await plain_store.sync_holder()
        assert holder is not None and holder.elected
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await elected_store.close()
        await plain_store.close()
