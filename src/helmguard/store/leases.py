"""Sync leases: one sync per cluster and store, kept alive by a heartbeat."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from helmguard.store.core import StoreCore, utc_now
from helmguard.store.errors import SyncRunning
from helmguard.store.models import SyncLease
from helmguard.store.records import SyncHolder

# A running sync writes its heartbeat this often; one silent for SYNC_LEASE_SECONDS is gone.
SYNC_HEARTBEAT_SECONDS = 2.0
SYNC_LEASE_SECONDS = 15.0
# Any constant shared by every helmguard: two syncs starting together decide one at a time.
_PG_SYNC_LOCK = 0x68677379


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _sync_holder(row: Any) -> SyncHolder:
    return SyncHolder(
        row.cluster, row.holder, row.host, row.pid, row.started_at, row.heartbeat_at, row.elected
    )


def _holder_gone(holder: SyncHolder, now: datetime) -> bool:
    """Silent past the lease, or a process of this host that no longer exists (SIGKILLed)."""
    if now - holder.heartbeat_at > timedelta(seconds=SYNC_LEASE_SECONDS):
        return True
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid)


def _describe_holder(holder: SyncHolder, now: datetime, url: str) -> str:
    cluster = f"cluster {holder.cluster!r}" if holder.cluster else "the cluster"
    beat = max(0.0, (now - holder.heartbeat_at).total_seconds())
    running = (
        f"a sync of {cluster} into {url} is already running"
        + (" in a `serve --leader-elect` replica" if holder.elected else "")
        + f": helmguard pid {holder.pid} on {holder.host}, since "
        f"{holder.started_at.isoformat(timespec='seconds')}, last heartbeat {beat:.1f} s ago; "
    )
    if holder.elected:
        # Replicas with and without --leader-elect on one store: the elected one keeps it.
        return running + (
            "replicas on one store take turns by the cluster's Lease, so this serve, without "
            "--leader-elect, does not sync it while an elected one does (it follows the store)"
        )
    return running + (
        "its API and stream already show every change, including this process's deploys. "
        "Stop it first to run another sync on this store"
    )


class SyncLeases(StoreCore):
    """Taking, renewing, giving up and reading a cluster's sync lease."""

    async def acquire_sync(self, cluster: str = "", *, take_over: bool = False) -> str:
        """Become the one sync of `cluster` on this store; return the holder id to renew with.

        Raises SyncRunning, naming the process, while another sync of the cluster is alive:
        it heartbeats (`renew_sync`) within SYNC_LEASE_SECONDS and, on this host, exists.
        `take_over`: the caller won the cluster's leader election (helmguard.sync.leader),
        which the previous holder lost: its lease is taken at once (it sees so on its next
        heartbeat and stops).
        """
        holder = os.urandom(16).hex()
        host, pid = socket.gethostname(), os.getpid()

        def op(connection: Connection) -> SyncHolder | None:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SYNC_LOCK})")
            now = utc_now()
            row = connection.execute(
                select(SyncLease).where(SyncLease.c.cluster == cluster)
            ).one_or_none()
            if (
                row is not None
                and not take_over
                and not _holder_gone(current := _sync_holder(row), now)
            ):
                return current
            values = {
                "holder": holder,
                "host": host,
                "pid": pid,
                "started_at": now,
                "heartbeat_at": now,
                "elected": take_over,
            }
            if row is None:
                connection.execute(insert(SyncLease).values(cluster=cluster, **values))
            else:
                connection.execute(
                    update(SyncLease).where(SyncLease.c.cluster == cluster).values(**values)
                )
            return None

        running = await self._require_writer().submit(op)
        if running is not None:
            raise SyncRunning(_describe_holder(running, utc_now(), self.url), running)
        return holder

    async def renew_sync(self, cluster: str, holder: str) -> bool:
        """Write the heartbeat of a held sync lease; False if another sync has taken it over."""

        def op(connection: Connection) -> bool:
            result = connection.execute(
                update(SyncLease)
                .where(SyncLease.c.cluster == cluster, SyncLease.c.holder == holder)
                .values(heartbeat_at=utc_now())
            )
            return bool(result.rowcount)

        return bool(await self._require_writer().submit(op))

    async def release_sync(self, cluster: str, holder: str) -> None:
        """Give a held sync lease up (a sync that stops); someone else's is left alone."""

        def op(connection: Connection) -> None:
            connection.execute(
                delete(SyncLease).where(
                    SyncLease.c.cluster == cluster, SyncLease.c.holder == holder
                )
            )

        await self._require_writer().submit(op)

    async def sync_holder(self, cluster: str = "") -> SyncHolder | None:
        """Who holds `cluster`'s sync lease (alive or not), or None when no sync holds it."""
        rows = await self._rows(select(SyncLease).where(SyncLease.c.cluster == cluster))
        return _sync_holder(rows[0]) if rows else None

    async def sync_heartbeat(self, cluster: str = "") -> datetime | None:
        """The last heartbeat of `cluster`'s sync; None when none runs (or it stopped cleanly).

        A live sync beats every SYNC_HEARTBEAT_SECONDS: a beat older than SYNC_LEASE_SECONDS
        was left by a sync that died.
        """
        holder = await self.sync_holder(cluster)
        return holder.heartbeat_at if holder is not None else None
