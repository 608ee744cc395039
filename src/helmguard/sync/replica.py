"""One `serve` replica of several on a shared store: the cluster's Lease picks who syncs it.

`ElectedSupervisor` campaigns for the cluster's Lease (helmguard.sync.leader) through that
cluster's API server; while it leads it runs a fresh `ClusterSupervisor` (sync, recovery of
dead operations, Unknown while unreachable), which takes the store's sync lease over from
a leader that lost. Leadership lost: the sync stops, the replica campaigns again. Every
replica serves the API and the stream from the store whatever its role.

`readiness()`: a follower is ready (the API checks the store itself); a leader is not
ready until the first sync of its term has started, then the supervisor decides.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from helmguard.kube.client import Kube
from helmguard.store import StoreError
from helmguard.sync.leader import LEASE_NAME, ElectionTimings, LeaderElector
from helmguard.sync.supervisor import ClusterSupervisor, Readiness

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
        name: str = "the cluster",
        announce: Callable[[str], None] = log.warning,
    ) -> None:
        self._connect = connect
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
            while True:
                await self.elector.run(self._lead)
                self._announce(
                    f"serve: no longer leading {self.name} (Lease "
                    f"{self.election.namespace}/{self.election.name}): its sync stopped"
                )
        finally:
            await kube.aclose()

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
