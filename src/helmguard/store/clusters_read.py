"""The clusters the store knows: the clusters its releases are keyed by, those with a sync
lease row, and those registered (`helmguard cluster add`).

Per cluster: its releases counted by app state, the sync that holds its lease (and whether
that sync is alive), and whether the sync last found the cluster unreachable (releases
stored with one of the reasons the caller names: the message and since when), and whether
it is registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from helmguard.store.core import StoreCore, utc_now
from helmguard.store.leases import _holder_gone, _sync_holder
from helmguard.store.models import RegisteredCluster, Release, SyncLease
from helmguard.store.records import SyncHolder


@dataclass(frozen=True)
class Unreachable:
    """The cluster could not be reached: `releases` of its releases are stored Unknown for
    that; `reason` and `message` are the earliest such release's (the message names the
    error), `since` when the cluster went away."""

    releases: int
    reason: str
    message: str
    since: datetime | None


@dataclass(frozen=True)
class ClusterSummary:
    """One cluster as the store knows it ("" is the default cluster)."""

    name: str
    # (app state, number of releases), worst-first is the caller's business; a release no
    # sync has observed yet has no app state: it is counted under `unsynced`.
    states: tuple[tuple[str, int], ...]
    unsynced: int
    sync: SyncHolder | None
    sync_alive: bool
    unreachable: Unreachable | None
    registered: bool = False  # in the registry ("" never is: it is the kubeconfig's own)

    @property
    def releases(self) -> int:
        return self.unsynced + sum(n for _, n in self.states)


class ClusterReads(StoreCore):
    """Reads of the clusters the store's releases and sync leases name."""

    async def cluster_summaries(self, unreachable: Sequence[str]) -> list[ClusterSummary]:
        """Every cluster with a release, a sync lease or a registry row, by name ("" first).

        `unreachable`: the app reasons the sync stores on a release whose cluster it cannot
        reach or watch (its vocabulary, above the store).
        """
        counts: list[Any] = await self._rows(
            select(Release.c.cluster, Release.c.app_state, func.count()).group_by(
                Release.c.cluster, Release.c.app_state
            )
        )
        down: list[Any] = await self._rows(
            select(
                Release.c.cluster, Release.c.app_reason, Release.c.app_message, Release.c.app_since
            )
            .where(Release.c.app_reason.in_(unreachable))
            .order_by(Release.c.cluster, Release.c.app_since, Release.c.id)
        )
        leases = [_sync_holder(row) for row in await self._rows(select(SyncLease))]
        registered = {row[0] for row in await self._rows(select(RegisteredCluster.c.name))}
        now = utc_now()
        states: dict[str, list[tuple[str, int]]] = {}
        unsynced: dict[str, int] = {}
        for cluster, state, count in counts:
            if state is None:
                unsynced[cluster] = unsynced.get(cluster, 0) + int(count)
            else:
                states.setdefault(cluster, []).append((state, int(count)))
        away: dict[str, Unreachable] = {}
        for row in down:
            first = away.get(row.cluster)
            if first is None:
                away[row.cluster] = Unreachable(
                    1, row.app_reason, row.app_message or "", row.app_since
                )
            else:
                away[row.cluster] = replace(first, releases=first.releases + 1)
        by_lease = {lease.cluster: lease for lease in leases}
        names = sorted({*states, *unsynced, *by_lease, *registered})
        return [
            ClusterSummary(
                name=name,
                states=tuple(sorted(states.get(name, []))),
                unsynced=unsynced.get(name, 0),
                sync=by_lease.get(name),
                sync_alive=name in by_lease and not _holder_gone(by_lease[name], now),
                unreachable=away.get(name),
                registered=name in registered,
            )
            for name in names
        ]
