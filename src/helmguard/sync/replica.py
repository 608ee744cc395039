"""One `serve` replica of several on a shared store: the cluster's Lease picks who syncs it.

`ElectedSupervisor` campaigns for the cluster's Lease (helmguard.sync.leader) through that
cluster's API server; while it leads it runs a fresh `ClusterSupervisor` (sync, recovery of
dead operations, Unknown while unreachable), which takes the store's sync lease over from
a leader that lost. Leadership lost: the sync stops, the replica campaigns again. Every
replica serves the API and the stream from the store whatever its role.

`readiness()`: a follower is ready (the API checks the store itself); a leader is not
ready until the first sync of its term has started, then the supervisor decides.

A cluster no replica can reach has no leader to store its releases Unknown: a follower
whose Lease reads get no answer from the cluster's API server, while the store's sync of
that cluster is silent (no heartbeat for SYNC_LEASE_SECONDS), stores them Unknown itself
(ClusterUnreachable), leaving those already Unknown alone: once per outage, whichever
replicas see it.
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
from helmguard.sync.supervisor import ClusterSupervisor, Readiness, mark_unreachable

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
        announce: Callable[[str], None] = log.warning,
    ) -> None:
        self._connect = connect
        self.store = store
        self.cluster = cluster
        self._new_supervisor = supervisor
        self.election = election
        self.identity = election.identity or replica_identity()
        self.name = name
        self._announce = announce
        self.elector: LeaderElector | None = None
        self.supervisor: ClusterSupervisor | None = None

    def readiness(self) -> Readiness:
        supervisor = self.supervisor
        if supervisor is None:
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
                    await self.elector.run(self._lead)
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
                continue
            down_at = down_at or datetime.now(UTC)
            if marked:
                continue
            try:
                beat = await self.store.sync_heartbeat(self.cluster)
                if beat is not None and datetime.now(UTC) - beat < timedelta(
                    seconds=SYNC_LEASE_SECONDS
                ):
                    continue  # a sync elsewhere still runs: it knows better than this replica
                message = (
                    f"{self.name} cannot be reached since "
                    f"{down_at.isoformat(timespec='seconds')} (no replica holds its Lease "
                    f"{self.election.namespace}/{self.election.name}): {elector.last_error}"
                )
                written = await mark_unreachable(
                    self.store, self.cluster, message, down_at, keep_unknown=True
                )
            except StoreError as exc:  # the store is away too: try again next period
                log.warning("%s: storing its releases Unknown failed: %s", self.name, exc)
                continue
            marked = True
            if written:
                self._announce(
                    f"serve: {self.name} cannot be reached and no replica syncs it: "
                    f"{written} status(es) stored Unknown"
                )

    async def _lead(self) -> None:
        self._announce(
            f"serve: {self.identity} leads {self.name} (Lease "
            f"{self.election.namespace}/{self.election.name}): syncing"
        )
        self.supervisor = self._new_supervisor()
        try:
            await self.supervisor.run()
        except StoreError as exc:
            # The store's sync lease went to another replica: that one leads now.
            self._announce(f"serve: the sync of {self.name} stopped: {exc}")
        finally:
            self.supervisor = None

    def _new_leader(self, identity: str) -> None:
        if identity and identity != self.identity:
            self._announce(f"serve: {identity} leads {self.name}; this replica follows")
