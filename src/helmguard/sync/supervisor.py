"""Keeping the sync of one cluster running while the cluster comes and goes.

`ClusterSupervisor(connect, store)` connects (`connect` need not verify: discovery does),
retrying with capped, jittered backoff for as long as it takes, runs a `Sync` once
connected, and while the cluster cannot be reached stores the cluster's releases Unknown
with the reason, so nothing stays green on stale information. Once the sync runs, its
informers reconnect by themselves (and store their members Unknown while down);
`readiness()` reports not ready when no sync has run for longer than `grace` seconds, or
an informer has been down that long. `on_connect` runs on each new connection once
the sync has started (serve settles what dead processes left unfinished there); its
failure is announced, never fatal. `warm_up` prepares a standby sync for a replica that
follows the cluster's Lease, so that leading needs no lists (sync.replica). The sync
follows the releases helm installed too (`sync.helm`).

A supervisor that is not `elected` (serve without --leader-elect) on a store where a
`serve --leader-elect` replica syncs the cluster follows the store instead of ending:
whether that replica held the store's sync lease first or took it over (it won the
cluster's Lease), this one writes nothing, stays ready (its API and stream read the
store), and syncs the cluster again only once no sync of it is alive in the store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.store import (
    SYNC_LEASE_SECONDS,
    AppRecord,
    ObservedStatus,
    ReleaseKey,
    Store,
    StoreError,
    SyncHolder,
)
from helmguard.store.errors import SyncRunning
from helmguard.sync.engine import Sync

log = logging.getLogger(__name__)

GRACE_SECONDS = 30.0  # unreachable for longer than this: /readyz says not ready
BACKOFF_CAP = 10.0  # the longest wait between two connection attempts
FOLLOW_POLL_SECONDS = 2.0  # how often a follower of the store reads who syncs the cluster
UNREACHABLE = "ClusterUnreachable"


@dataclass(frozen=True)
class Readiness:
    """Whether /readyz may say ok; `detail` says why not."""

    ready: bool
    detail: str = ""


def combined_readiness(parts: Sequence[Callable[[], Readiness]]) -> Callable[[], Readiness]:
    """Ready while every cluster is; otherwise not, naming each cluster that is not."""

    def readiness() -> Readiness:
        down = [r for r in (part() for part in parts) if not r.ready]
        return Readiness(not down, "; ".join(r.detail for r in down))

    return readiness


class ClusterSupervisor:
    """Connects to a cluster until it answers, runs the sync, reports readiness."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Kube]],
        store: Store,
        *,
        name: str = "",
        cluster: str = "",
        grace: float = GRACE_SECONDS,
        backoff_cap: float = BACKOFF_CAP,
        announce: Callable[[str], None] = log.warning,
        on_connect: Callable[[Kube], Awaitable[object]] | None = None,
        discover_helm: bool = True,
        elected: bool = False,
    ) -> None:
        self._connect = connect
        self.store = store
        self.name = name or "the cluster"
        self.cluster = cluster
        self.grace = grace
        self.backoff_cap = backoff_cap
        self.sync: Sync | None = None
        self.elected = elected  # see Sync(elected=)
        self.synced = False  # a sync has started (its first lists done) at least once
        self._down_since: float | None = time.monotonic()
        self._down_at = datetime.now(UTC)
        self._reason = "not connected yet"
        self._attempts = 0
        self._announce = announce  # a line for the operator: unreachable, syncing
        self._on_connect = on_connect
        self.discover_helm = discover_helm  # follow releases helm installed (sync.helm)
        self.following: SyncHolder | None = None  # the elected sync this one follows
        self._warm: tuple[Kube, Sync] | None = None  # a standby sync (warm_up)

    def readiness(self) -> Readiness:
        """Not ready while the cluster has been unreachable for longer than `grace`."""
        now = time.monotonic()
        if self.following is not None:
            return Readiness(True)  # the elected replica syncs it; the store is served
        if self.sync is None:
            since = self._down_since if self._down_since is not None else now
            if now - since > self.grace:
                return Readiness(
                    False,
                    f"{self.name}: no sync for {now - since:.0f}s, unreachable or still "
                    f"listing ({self._attempts} connection attempts): {self._reason}",
                )
            return Readiness(True)
        down = [i.connectivity for i in self.sync.informers.values() if not i.connectivity.up]
        if down:
            first = min(down, key=lambda c: c.since)
            seconds = (datetime.now(UTC) - first.since).total_seconds()
            if seconds > self.grace:
                return Readiness(
                    False, f"{self.name}: watch down for {seconds:.0f}s: {first.reason}"
                )
        return Readiness(True)

    async def run(self) -> None:
        """Connect (for as long as it takes, with backoff), then run the sync until cancelled.

        After `warm_up`, the first sync is the standby's, promoted: no connection nor list
        to wait for. `on_connect` runs once the sync has started (it writes nothing the
        sync's start reads).
        """
        while True:
            warm, self._warm = self._warm, None
            if warm is not None:
                kube, sync = warm
            else:
                kube = await self._connected()
                sync = self._new_sync(kube)
            self._reason = "connected; the first lists of the sync are not done"
            failed: Exception | None = None
            follow: SyncHolder | None = None  # an elected replica's sync, to follow
            try:
                try:
                    await (sync.promote() if warm is not None else sync.start())
                except SyncRunning as exc:
                    if not self._may_follow(exc.holder):
                        raise  # another serve syncs this cluster into this store
                    follow = exc.holder
                except Exception as exc:  # the cluster went away while listing: start again
                    failed = exc
                else:
                    follow = await self._synced(sync, kube)
            finally:
                # Also when cancelled while starting or settling: nothing runs on after it.
                self.sync = None
                await sync.stop()
                await kube.aclose()
            if follow is not None:
                await self._follow(follow)
                continue
            assert failed is not None  # _synced ends by raising or with a sync to follow
            self._failed(failed)
            await self._backoff()

    async def _synced(self, sync: Sync, kube: Kube) -> SyncHolder:
        """The sync has started: settle what dead processes left, then run until it is lost.

        Returns the elected replica's sync that took it over, when this one may follow it
        (`_may_follow`); raises StoreError otherwise."""
        self.sync = sync
        self.synced = True
        self._down_since = None
        self._attempts = 0
        self._announce(f"serve: syncing {len(sync.index.releases)} release(s) from {self.name}")
        if self._on_connect is not None:
            try:
                await self._on_connect(kube)
            except Exception as exc:  # the sync runs all the same
                self._announce(f"serve: on connecting to {self.name}: {classify(exc).message}")
        # The informers run until we are cancelled, or another sync takes over.
        await sync.lost.wait()
        if not self._may_follow(sync.lost_to) or sync.lost_to is None:
            raise StoreError(sync.lost_reason)
        return sync.lost_to

    async def warm_up(self) -> None:
        """While another replica leads the cluster: connect and start a standby sync (its
        releases loaded, its informers listed and watching, nothing written), retrying with
        backoff until that works; `run` then leads with it. `discard` undoes it."""
        while True:
            self._attempts += 1
            kube: Kube | None = None
            sync: Sync | None = None
            try:
                kube = await self._connect()
                await kube.authenticate()
                await kube.discovery.resources()
                sync = self._new_sync(kube)
                await sync.start(standby=True)
            except BaseException as exc:
                if sync is not None:
                    await sync.stop()
                if kube is not None:
                    await kube.aclose()
                if not isinstance(exc, Exception):
                    raise  # cancelled
                self._reason = classify(exc).message
                await self._backoff()
                continue
            self._warm = (kube, sync)
            self._attempts = 0
            return

    async def discard(self) -> None:
        """Stop the standby sync `warm_up` left, if `run` did not lead with it."""
        warm, self._warm = self._warm, None
        if warm is not None:
            await warm[1].stop()
            await warm[0].aclose()

    def _new_sync(self, kube: Kube) -> Sync:
        return Sync(
            kube,
            self.store,
            cluster=self.cluster,
            discover_helm=self.discover_helm,
            elected=self.elected,
        )

    def _may_follow(self, holder: SyncHolder | None) -> bool:
        """Whether this supervisor follows `holder`'s sync rather than end: it is not
        elected itself, and `holder` is a --leader-elect replica's sync."""
        return not self.elected and holder is not None and holder.elected

    async def _follow(self, holder: SyncHolder | None) -> None:
        """Until no sync of the cluster is alive in the store (whoever holds it now):
        announce it, write nothing; /readyz stays ready."""
        assert holder is not None
        self.following = holder
        self._announce(
            f"serve: {self.name} is synced by a `serve --leader-elect` replica (helmguard pid "
            f"{holder.pid} on {holder.host}); this serve, without --leader-elect, follows the "
            "store (its API and stream show that sync's writes) and syncs the cluster only "
            "while no sync of it is alive"
        )
        try:
            while True:
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
                try:
                    now = await self.store.sync_holder(self.cluster)
                except StoreError as exc:  # the store is away: keep following, read again
                    log.warning("%s: reading who syncs it failed: %s", self.name, exc)
                    continue
                if now is None or not _alive(now):
                    break
                self.following = now
        finally:
            self.following = None
        self._down_since, self._down_at = time.monotonic(), datetime.now(UTC)
        self._reason = "the elected replica's sync stopped; connecting"
        self._announce(f"serve: no sync of {self.name} is alive in the store: syncing it")

    async def _connected(self) -> Kube:
        """A connection whose discovery answers; stores the releases Unknown while there is none."""
        marked = False
        while True:
            self._attempts += 1
            try:
                kube = await self._connect()
            except Exception as exc:  # every failure to reach the cluster is retried
                self._failed(exc)
            else:
                try:
                    # One attempt each (the backoff is ours): the credential (an exec
                    # plugin is named when it fails), then discovery proves the server.
                    await kube.authenticate()
                    await kube.discovery.resources()
                except Exception as exc:
                    await kube.aclose()
                    self._failed(exc)
                else:
                    return kube
            if not marked:
                self._announce(
                    f"serve: {self.name} cannot be reached ({self._reason}); its releases "
                    "are stored Unknown, retrying with backoff"
                )
                await self._mark_unknown()
                marked = True
            await self._backoff()

    def _failed(self, exc: Exception) -> None:
        self._reason = classify(exc).message
        if self._down_since is None:
            self._down_since, self._down_at = time.monotonic(), datetime.now(UTC)

    async def _backoff(self) -> None:
        wait = random.uniform(0.5, 1.0) * min(self.backoff_cap, 0.5 * 2 ** min(self._attempts, 10))
        log.info("%s unreachable (%s); retrying in %.1fs", self.name, self._reason, wait)
        await asyncio.sleep(wait)

    async def _mark_unknown(self) -> None:
        """Store every release of this cluster Unknown: what it was is no longer known."""
        message = (
            f"{self.name} cannot be reached since "
            f"{self._down_at.isoformat(timespec='seconds')}: {self._reason}"
        )
        await mark_unreachable(self.store, self.cluster, message, self._down_at)


def _alive(holder: SyncHolder) -> bool:
    """`holder` heartbeats within the store's lease (or, never renewed, has just started)."""
    age = datetime.now(UTC) - holder.heartbeat_at
    return age.total_seconds() < SYNC_LEASE_SECONDS


async def mark_unreachable(
    store: Store, cluster: str, message: str, since: datetime, *, keep_unknown: bool = False
) -> int:
    """Store every release of `cluster` and its objects Unknown (ClusterUnreachable, `message`);
    with `keep_unknown`, those already Unknown are left as they are (so that several replicas
    marking the same outage write it once). Returns how many statuses were written."""
    now = datetime.now(UTC)
    rows: list[tuple[ReleaseKey, ObservedStatus]] = []
    apps: list[tuple[ReleaseKey, AppRecord]] = []
    for release in await store.list_releases(cluster):
        members = await store.list_resources(release.key)
        children = await store.list_resources(release.key, children=True)
        for resource in (*members, *children):
            if keep_unknown and resource.state == "Unknown":
                continue
            status = ObservedStatus(
                resource.ref, "Unknown", UNREACHABLE, message, since, now, owner=resource.owner
            )
            rows.append((release.key, status))
        if not (keep_unknown and release.app is not None and release.app.state == "Unknown"):
            apps.append((release.key, AppRecord("Unknown", UNREACHABLE, message, since, now)))
    await store.upsert_statuses(rows, apps)
    return len(rows) + len(apps)


async def mark_unreachable_once(
    store: Store, cluster: str, message: str, since: datetime
) -> int | None:
    """`mark_unreachable(keep_unknown=True)` by one writer of all the processes on the store:
    the one that takes the cluster's sync lease row (free: no sync runs) for the write and
    gives it back. None: another holds it (it writes, or a sync runs after all)."""
    try:
        holder = await store.acquire_sync(cluster)
    except SyncRunning:
        return None
    try:
        return await mark_unreachable(store, cluster, message, since, keep_unknown=True)
    finally:
        await store.release_sync(cluster, holder)
