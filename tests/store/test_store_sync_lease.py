"""One sync per cluster and store: the lease row, its heartbeat, and take-over of dead holders."""

from __future__ import annotations

import os
import signal
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from helmguard.store import SYNC_LEASE_SECONDS, Store, SyncRunning
from helmguard.store.models import SyncLease

from .test_store_processes import read_until, spawn


async def test_a_second_sync_of_the_cluster_is_refused_naming_the_first(store: Store) -> None:
    assert await store.sync_heartbeat() is None
    before = datetime.now(UTC)
    lease = await store.acquire_sync()
    beat = await store.sync_heartbeat()
    assert beat is not None and before <= beat <= datetime.now(UTC)
    with pytest.raises(SyncRunning) as refused:
        await store.acquire_sync()
    message = str(refused.value)
    assert f"a sync of the cluster into {store.url} is already running" in message
    assert f"helmguard pid {os.getpid()} on {socket.gethostname()}" in message
    # Another cluster is another sync.
    other = await store.acquire_sync("edge")
    assert (await store.sync_holder("edge")) is not None
    assert await store.renew_sync("", lease)
    renewed = await store.sync_heartbeat()
    assert renewed is not None and renewed >= beat
    await store.release_sync("", lease)
    assert await store.sync_heartbeat() is None
    assert await store.sync_heartbeat("edge") is not None
    await store.release_sync("edge", other)
    # Released: the next sync starts at once.
    await store.release_sync("", await store.acquire_sync())


async def _insert_holder(store: Store, host: str, pid: int, beat: datetime) -> None:
    backend = store._backend
    assert backend is not None
    await backend.run(
        lambda connection: connection.execute(
            insert(SyncLease).values(
                cluster="", holder="x" * 32, host=host, pid=pid, started_at=beat, heartbeat_at=beat
            )
        )
    )


async def test_a_holder_silent_past_the_lease_is_taken_over(store: Store) -> None:
    # A sync on another machine (its pid cannot be checked from here) that stopped beating.
    now = datetime.now(UTC)
    await _insert_holder(store, "elsewhere.example", 1, now - timedelta(seconds=2))
    with pytest.raises(SyncRunning, match=r"pid 1 on elsewhere.example.*heartbeat 2\.\d s ago"):
        await store.acquire_sync()
    await store.release_sync("", "x" * 32)
    await _insert_holder(
        store, "elsewhere.example", 1, now - timedelta(seconds=SYNC_LEASE_SECONDS + 1)
    )
    lease = await store.acquire_sync()
    holder = await store.sync_holder()
    assert holder is not None and holder.holder == lease and holder.pid == os.getpid()
    # The old holder finds out when it next beats.
    assert not await store.renew_sync("", "x" * 32)


async def test_a_killed_holder_on_this_host_is_taken_over_at_once(
    store: Store, db_url: str
) -> None:
    holder = spawn("lease", db_url)
    try:
        read_until(holder, "held")
        with pytest.raises(SyncRunning, match=f"helmguard pid {holder.pid} on"):
            await store.acquire_sync()
        holder.send_signal(signal.SIGKILL)  # no clean-up: its heartbeat is still fresh
    finally:
        holder.kill()
        holder.wait(timeout=60)
    beat = await store.sync_heartbeat()
    assert beat is not None and datetime.now(UTC) - beat < timedelta(seconds=SYNC_LEASE_SECONDS)
    lease = await store.acquire_sync()
    found = await store.sync_holder()
    assert found is not None and found.holder == lease


async def test_the_elected_sync_takes_a_live_holders_lease_over(store: Store) -> None:
    first = await store.acquire_sync()
    with pytest.raises(SyncRunning):
        await store.acquire_sync()
    # The winner of the cluster's Lease takes over; the former holder can no longer renew.
    second = await store.acquire_sync(take_over=True)
    assert second != first
    assert not await store.renew_sync("", first)
    assert await store.renew_sync("", second)
    await store.release_sync("", second)


async def test_a_replica_without_leader_election_is_told_why_it_may_not_sync(
    store: Store,
) -> None:
    # A plain serve syncs; a --leader-elect replica wins the cluster's Lease and takes over.
    plain = await store.acquire_sync("mixed")
    elected = await store.acquire_sync("mixed", take_over=True)
    holder = await store.sync_holder("mixed")
    assert holder is not None and holder.holder == elected and holder.elected
    # The plain one sees it on its next heartbeat, tries again, and is told what to do.
    assert not await store.renew_sync("mixed", plain)
    with pytest.raises(SyncRunning) as refused:
        await store.acquire_sync("mixed")
    message = str(refused.value)
    assert "is already running in a `serve --leader-elect` replica" in message
    assert "without --leader-elect, does not sync it while an elected one does" in message
    assert refused.value.holder is not None and refused.value.holder.holder == elected
    # The elected replica's sync is untouched.
    assert await store.renew_sync("mixed", elected)
    # A plain holder refusing a plain one says what it always said.
    await store.release_sync("mixed", elected)
    first = await store.acquire_sync("mixed")
    with pytest.raises(SyncRunning, match="Stop it first to run another sync") as again:
        await store.acquire_sync("mixed")
    assert "--leader-elect" not in str(again.value)
    await store.release_sync("mixed", first)
