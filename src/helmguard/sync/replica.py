"""One `serve` replica of several on a shared store: the cluster's Lease picks who syncs it.

`ElectedSupervisor` campaigns for the cluster's Lease (helmguard.sync.leader) through that
cluster's API server; while it leads it runs a fresh `ClusterSupervisor` (sync, recovery of
dead operations, Unknown while unreachable), which takes the store's sync lease over from
a leader that lost. Leadership lost: the sync stops, the replica campaigns again. Every
replica serves the API and the stream from the store whatever its role.

`readiness()`: a follower is ready (the API checks the store itself); a leader is not
ready until the first sync of its term has started, then the supervisor decides.

A cluster no replica can reach has no leader to store its releases Unknown: a follower
whose Lease reads get no answer from the cluster's API server, while no sync of that
cluster is alive in the store, stores them Unknown itself (ClusterUnreachable). Who
writes: the follower that takes the store's sync lease row of the cluster (free, since no
sync heartbeats), for the one transaction of the write, then gives it back; another
follower meanwhile gets SyncRunning and writes nothing, and one coming after it finds
the statuses Unknown already and leaves them alone (`keep_unknown`): one write per
outage, whichever replicas see it. Every follower also knows the cluster is leaderless
(`leaderless`: since when, why): its readiness names it once that lasts past `grace`,
and /api/clusters shows it (`Fleet.leaderless`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from helmguard.kube.client import Kube
from helmguard.store import SYNC_LEASE_SECONDS, Store, StoreError
from helmguard.sync.leader import LEASE_NAME, ElectionTimings, LeaderElector
from helmguard.sync.supervisor import (
    GRACE_SECONDS,
    ClusterSupervisor,
    Readiness,
    mark_unreachable_once,
)

log = logging.getLogger(__name__)


def replica_identity() -> str:
    """holderIdentity for this process: the host (a pod's name), made unique per process."""
    return f"{socket.gethostname()}_{os.getpid()}_{os.urandom(4).hex()}"


@dataclass(frozen=True)
class Election:
    """Where the Lease is and how it is held."""

    namespace: str
    name: str = LEASE_NAME
    identity: str = ""
    timings: ElectionTimings = field(default_factory=ElectionTimings)


@dataclass(frozen=True)
class Leaderless:
    """No replica leads the cluster: this one cannot reach it, and no sync of it is alive."""

    since: datetime
    message: str


class ElectedSupervisor:
    """Runs a cluster's sync only while this replica holds the cluster's Lease."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Kube]],
        supervisor: Callable[[], ClusterSupervisor],  # built with elected=True
        election: Election,
        *,
        store: Store,
        cluster: str = "",
        name: str = "the cluster",
        grace: float = GRACE_SECONDS,
        announce: Callable[[str], None] = log.warning,
    ) -> None:
        self._connect = connect
        self.grace = grace
        self.store = store
        self.cluster = cluster
        self._new_supervisor = supervisor
        self.election = election
        self.identity = election.identity or replica_identity()
        self.name = name
        self._announce = announce
        self.elector: LeaderElector | None = None
        self.supervisor: ClusterSupervisor | None = None
        # While following: a supervisor whose standby sync is listed, ready to lead with.
        self._standby: ClusterSupervisor | None = None
        self._warming: asyncio.Task[None] | None = None
        self.leaderless: Leaderless | None = None  # set by a follower, see the module docstring

    def readiness(self) -> Readiness:
        supervisor = self.supervisor
        if supervisor is None:
            leaderless = self.leaderless
            if leaderless is not None:
                seconds = (datetime.now(UTC) - leaderless.since).total_seconds()
                if seconds > self.grace:
                    return Readiness(False, leaderless.message)
            return Readiness(True)  # a follower serves the store
        if not supervisor.synced:
            return Readiness(False, f"{self.name}: leading, the first sync is not done yet")
        return supervisor.readiness()

    async def run(self) -> None:
        """Campaign, sync while leading, campaign again when leadership is lost; until cancelled."""
        kube = await self._connect()  # the election's own connection; it needs no answer yet
        try:
            self.elector = LeaderElector(
                kube,
                self.election.namespace,
                self.election.name,
                self.identity,
                timings=self.election.timings,
                on_new_leader=self._new_leader,
            )
            watchdog = asyncio.create_task(self._mark_while_unreachable(self.elector))
            try:
                while True:
                    self._standby = self._new_supervisor()
                    self._warming = asyncio.create_task(
                        self._standby.warm_up(), name=f"standby sync of {self.name}"
                    )
                    try:
                        await self.elector.run(self._lead)
                    finally:
                        await self._drop_standby()
                    self._announce(
                        f"serve: no longer leading {self.name} (Lease "
                        f"{self.election.namespace}/{self.election.name}): its sync stopped"
                    )
            finally:
                watchdog.cancel()
                await asyncio.gather(watchdog, return_exceptions=True)
        finally:
            await kube.aclose()

    async def _mark_while_unreachable(self, elector: LeaderElector) -> None:
        """While following, every retry period: see the module docstring."""
        down_at: datetime | None = None
        marked = False
        while True:
            await asyncio.sleep(self.election.timings.retry_period)
            if self.supervisor is not None or elector.answered:
                down_at, marked = None, False  # leading (its supervisor marks), or reachable
                self.leaderless = None
                continue
            down_at = down_at or datetime.now(UTC)
            message = (
                f"{self.name} cannot be reached since "
                f"{down_at.isoformat(timespec='seconds')} (no replica holds its Lease "
                f"{self.election.namespace}/{self.election.name}): {elector.last_error}"
            )
            try:
                if await self._sync_alive_elsewhere():
                    self.leaderless = None  # a sync elsewhere reaches it: it knows better
                    continue
                self.leaderless = Leaderless(down_at, message)
                if marked:
                    continue
                written = await mark_unreachable_once(self.store, self.cluster, message, down_at)
            except StoreError as exc:  # the store is away too: try again next period
                log.warning("%s: storing its releases Unknown failed: %s", self.name, exc)
                continue
            if written is None:
                continue  # another follower is writing it now
            marked = True
            if written:
                self._announce(
                    f"serve: {self.name} cannot be reached and no replica syncs it: "
                    f"{written} status(es) stored Unknown"
                )

    async def _sync_alive_elsewhere(self) -> bool:
        """A sync of the cluster heartbeats in the store (not a follower's brief write lease,
        which is neither elected nor ever renewed)."""
        holder = await self.store.sync_holder(self.cluster)
        if holder is None or not (holder.elected or holder.heartbeat_at > holder.started_at):
            return False
        return datetime.now(UTC) - holder.heartbeat_at < timedelta(seconds=SYNC_LEASE_SECONDS)

    async def _lead(self) -> None:
        self._announce(
            f"serve: {self.identity} leads {self.name} (Lease "
            f"{self.election.namespace}/{self.election.name}): syncing"
        )
        standby, self._standby = self._standby, None
        if standby is not None and self._warming is not None and not self._warming.done():
            # Not listed yet: a cold start lists as soon.
            await self._drop_standby(standby)
            standby = None
        self.supervisor = standby or self._new_supervisor()
        try:
            await self.supervisor.run()
        except StoreError as exc:
            # The store's sync lease went to another replica: that one leads now.
            self._announce(f"serve: the sync of {self.name} stopped: {exc}")
        finally:
            self.supervisor = None

    async def _drop_standby(self, standby: ClusterSupervisor | None = None) -> None:
        """Stop warming up a standby sync, and the standby sync itself if not led with."""
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        standby = standby or self._standby
        self._standby = None
        if standby is not None:
            await standby.discard()

    def _new_leader(self, identity: str) -> None:
        if identity and identity != self.identity:
            self._announce(f"serve: {identity} leads {self.name}; this replica follows")
