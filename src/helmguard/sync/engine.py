"""The sync: informers for what managed releases need, statuses recomputed on every change.

One file past 400 lines: the Sync class's event loop (informer set, recompute, commit queue)
shares its state; the pure parts are in sync/changes.py, index.py and helm.py.

`Sync(kube, store)` loads the managed releases from the store, runs an informer per
(kind, namespace) they need (or per kind cluster-wide when there are many namespaces),
and on every watch notification recomputes the object's top owner (Pod -> ReplicaSet ->
Deployment), i.e. its component, and the release's app status (stored in the release's
columns, its transitions in history under `app_ref`). Only real changes are
written: each pass of the worker writes what it has in one transaction
(`Store.upsert_statuses`, which records the transitions); a promoted standby's first
pass, in growing batches of whole releases. A change is snapshotted
when its notification arrives, so changes that follow each other faster than a write batch
commits (a ConfigMap deleted and re-created) each become a transition, in order; what does
not change a state (a new resourceVersion only) is coalesced to the latest. While an informer is
down, the members of the releases it covers are stored Unknown ("watch disconnected"),
and recomputed from a fresh list when it is back. A tick re-evaluates members whose
rule depends on time (Progressing: e.g. a pod Unschedulable for longer than a window).
With `discover_helm` (serve) the releases helm installed are recorded first (`sync.helm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helmguard import metrics
from helmguard.kube.client import Kube
from helmguard.kube.discovery import APIResource, ServedResources
from helmguard.kube.informer import Connectivity, Informer, slim, without_contents
from helmguard.kube.kinds import is_workload
from helmguard.manifest import K8sObject, ObjectRef
from helmguard.status import ResourceStatus, State, app_status, unknown
from helmguard.status.rules.common import event_time, parse_time
from helmguard.status.rules.pod import pod_restarts
from helmguard.store import (
    SYNC_HEARTBEAT_SECONDS,
    AppRecord,
    EventRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    ResourceRecord,
    Store,
    SyncHolder,
    SyncRunning,
    app_ref,
)
from helmguard.sync.changes import Written, batches, same_state, to_write
from helmguard.sync.helm import HelmDiscovery
from helmguard.sync.index import (
    CLUSTER_KINDS,
    NAMESPACED_KINDS,
    NODE_KIND,
    ClusterIndex,
    MemberKey,
    node_essentials,
    ref_of_subject,
)
from helmguard.sync.releases import ManagedRelease, load_release, load_releases, uninstalled_app

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Called per object status committed: (release, row, changed, notification -> commit seconds).
CommitHook = Callable[[ReleaseKey, ObservedStatus, bool, float], None]
# A change seen at notification time: the status, when it was seen (monotonic), and when.
_Snapshot = tuple[ResourceStatus, float, datetime]
# Items of the first transaction of a promoted standby's first pass (each next one twice
# as many): a new leader's first pass (thousands of rows changed while nobody led) starts
# to be stored at once rather than after one long commit. Other passes are one
# transaction each (fewer commits: a start's first pass, a loaded leader's backlog).
WRITE_BATCH = 250


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SyncStats:
    """Counters for tests, `serve -v` and the benchmark."""

    notifications: int = 0
    evaluations: int = 0
    writes: int = 0
    commits: int = 0  # transactions of statuses
    transitions: int = 0
    events_stored: int = 0
    latencies: list[float] = field(default_factory=list)  # notification -> commit, seconds


class Sync:
    """Keeps the stored statuses of every managed release equal to the cluster's."""

    def __init__(
        self,
        kube: Kube,
        store: Store,
        *,
        cluster: str = "",
        clock: Clock = utcnow,
        tick: float = 2.0,
        refresh: float = 0.5,
        heartbeat: float = SYNC_HEARTBEAT_SECONDS,
        prune_every: float = 3600.0,
        cluster_wide_above: int = 4,
        inactivity_timeout: float = 90.0,
        watch_timeout: float = 60.0,
        on_commit: CommitHook | None = None,
        discover_helm: bool = False,
        elected: bool = False,
        write_batch: int = WRITE_BATCH,
    ) -> None:
        self.kube = kube
        self.store = store
        self.cluster = cluster
        self.clock = clock
        self.tick = tick
        self.refresh = refresh
        self.heartbeat = heartbeat
        self.prune_every = prune_every
        self.cluster_wide_above = cluster_wide_above
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.on_commit = on_commit
        self.write_batch = write_batch  # see WRITE_BATCH
        self.discover_helm = discover_helm
        self.discovery: HelmDiscovery | None = None
        self.elected = elected  # won the cluster's Lease: takes the store's sync lease over
        self.index = ClusterIndex()
        self.informers: dict[tuple[str, str, str | None], Informer] = {}
        self._by_namespace: dict[str | None, list[Informer]] = {}  # None: cluster-wide
        self.stats = SyncStats()
        self._served: ServedResources | None = None
        self._cluster_wide = False
        self._dirty: dict[MemberKey, float] = {}
        self._dirty_apps: set[ReleaseKey] = set()
        self._events: dict[ReleaseKey, list[EventRecord]] = defaultdict(list)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._written: dict[MemberKey, Written] = {}
        # The child rows (ReplicaSets, Pods, Jobs) stored for each workload member, with
        # each child's controlling owner.
        self._child_refs: dict[MemberKey, dict[ObjectRef, ObjectRef | None]] = {}
        self._member_states: dict[MemberKey, ResourceStatus] = {}
        # Transitions seen at notification time, oldest first, not yet handed to the store.
        self._pending: dict[MemberKey, list[_Snapshot]] = {}
        # The same three for each release's app status (the release's columns in the store).
        self._app_written: dict[ReleaseKey, Written] = {}
        self._app_states: dict[ReleaseKey, ResourceStatus] = {}
        self._pending_apps: dict[ReleaseKey, list[_Snapshot]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = False
        self._lease: str | None = None
        self._beat: asyncio.Task[None] | None = None
        self._marks: dict[ReleaseKey, tuple[Any, ...]] = {}
        # Releases being added whose informers have not delivered their first list: nothing
        # is known of their objects yet, so nothing is computed for them (a "not listed yet"
        # watch would store every member Unknown for a moment).
        self._adding: set[ReleaseKey] = set()
        # Set when another sync took this cluster over (this one was silent too long).
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.lost_to: SyncHolder | None = None  # the sync that took this one's lease over
        self._nodes: Informer | None = None
        # A promoted standby's steps (name, seconds), logged with its first pass.
        self.takeover: list[tuple[str, float]] = []

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self, *, timeout: float = 60.0, standby: bool = False) -> None:  # noqa: ASYNC109 - a start deadline
        """Take the cluster's sync lease, load releases, start informers, write initial statuses.

        Raises SyncRunning (the store is untouched) while another sync of the same cluster
        is running on this store. `standby` (a follower of the cluster's Lease): no lease,
        nothing written; the releases are loaded and their informers listed (and kept
        watching) so that `promote` can lead at once.
        """
        if standby:
            await self._start(timeout, standby=True)
            return
        await self._take_lease()
        try:
            await self._start(timeout)
        except BaseException:
            await self._release_lease()
            raise

    async def promote(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - a start deadline
        """Lead with a sync started as a standby: take the lease, catch up with what the
        store says now (releases deployed meanwhile, the rows the previous leader wrote),
        and write from there: only what differs from the store. Helm's release records are
        read afterwards (the refresher loads what they add). How long each step took is
        kept in `takeover` (and logged, with the first pass, by the worker)."""
        steps: list[tuple[str, float]] = []
        started = time.monotonic()

        def step(name: str) -> None:
            nonlocal started
            now = time.monotonic()
            steps.append((name, now - started))
            started = now

        await self._take_lease()
        step("store lease")
        try:
            await self.refresh_releases()
            step("releases refreshed")
            records, members, children = await self._read_stored(children=True)
            step("stored rows read")
            self._written.clear()
            self._app_written.clear()
            self._child_refs.clear()
            await self._take_stored(records, members, children)
            await self.wait_synced(timeout=timeout)
            step("taken in")
            self.takeover = steps
            self._begin()
            if self.discover_helm:
                self._tasks.append(
                    asyncio.create_task(self._discover(timeout), name="helm release discovery")
                )
        except BaseException:
            await self._release_lease()
            raise

    async def _take_lease(self) -> None:
        self._lease = await self.store.acquire_sync(self.cluster, take_over=self.elected)
        self._beat = asyncio.create_task(self._heartbeat(), name="sync heartbeat")

    async def _discover(self, timeout: float) -> None:  # noqa: ASYNC109
        assert self._served is not None
        self.discovery = HelmDiscovery(
            self.kube,
            self.store,
            self._served,
            cluster=self.cluster,
            inactivity_timeout=self.inactivity_timeout,
            watch_timeout=self.watch_timeout,
        )
        await self.discovery.start(timeout=timeout)

    async def _start(self, timeout: float, *, standby: bool = False) -> None:  # noqa: ASYNC109
        self._served = await self.kube.discovery.resources()
        if self.discover_helm and not standby:
            # Before the releases load: those helm installed are in the store by then.
            await self._discover(timeout)
        # Marks first: a revision written while the releases load is seen by the refresher.
        self._marks = await self.store.release_marks(self.cluster)
        records, members, children = await self._read_stored(children=not standby)
        releases = await load_releases(self.store, self.cluster, records=records, resources=members)
        self._cluster_wide = len({r.namespace for r in releases}) > self.cluster_wide_above
        for release in releases:
            self.index.add_release(release)
        if not standby:
            await self._take_stored(records, members, children)
        for release in releases:
            self._ensure_informers(release)
        self._ensure_cluster_informers()
        await self.wait_synced(timeout=timeout)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._nodes_settled()
        if not standby:
            self._begin()

    async def _read_stored(
        self, *, children: bool
    ) -> tuple[
        list[ReleaseRecord],
        dict[ReleaseKey, list[ResourceRecord]],
        dict[ReleaseKey, list[ResourceRecord]],
    ]:
        """The cluster's release records, member rows and (with `children`) child rows,
        read at once (three connections: the decoding of one overlaps the others' reads)."""

        async def none() -> dict[ReleaseKey, list[ResourceRecord]]:
            return {}

        return await asyncio.gather(
            self.store.list_releases(self.cluster),
            self.store.cluster_resources(self.cluster),
            self.store.cluster_resources(self.cluster, children=True) if children else none(),
        )

    async def _take_stored(
        self,
        records: Sequence[ReleaseRecord],
        members: Mapping[ReleaseKey, Sequence[ResourceRecord]],
        children: Mapping[ReleaseKey, Sequence[ResourceRecord]],
    ) -> None:
        """Start from the stored rows: what each status was last written as, and the child
        rows of each member (those of members gone are removed)."""
        self._seed_written(records, members, children)
        for key in list(self.index.releases):
            await self._load_children(key, children.get(key, []))

    def _begin(self) -> None:
        """Compute every release and start writing (the worker and its helpers)."""
        self._ready = True
        for key in list(self.index.releases):
            self._mark_release(key)
        self._tasks = [
            asyncio.create_task(self._worker(), name="sync worker"),
            asyncio.create_task(self._ticker(), name="sync tick"),
            asyncio.create_task(self._refresher(), name="sync release refresh"),
            asyncio.create_task(self._pruner(), name="sync prune"),
        ]
        self._wake.set()

    def _seed_written(
        self,
        records: Sequence[ReleaseRecord],
        *rows: Mapping[ReleaseKey, Sequence[ResourceRecord]],
    ) -> None:
        """What the store holds is what the first pass compares with: a sync that starts
        (a new leader after a failover, a restart) writes only the statuses that differ
        from the stored ones, not every row again."""
        for record in records:
            if (app := record.app) is not None:
                self._app_written[record.key] = Written(
                    app.state, app.reason, app.message, app.root_cause, "", app.since
                )
        for by_release in rows:
            for key, stored in by_release.items():
                for row in stored:
                    self._written[(key, row.ref)] = Written(
                        row.state,
                        row.reason,
                        row.message,
                        row.root_cause,
                        row.resource_version,
                        row.since,
                    )

    async def wait_synced(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until every informer of members has delivered its first list."""
        async with asyncio.timeout(timeout):
            for informer in list(self.informers.values()):
                if informer is not self._nodes:
                    await informer.synced.wait()

    async def _nodes_settled(self) -> None:
        """Wait for the Node list, or its first failure: Nodes are context, never a gate.

        Without them (e.g. no permission to list nodes) only the verdict on a DaemonSet
        with no desired node is affected: it stays Unknown, saying the Nodes are unknown.
        """
        nodes = self._nodes
        # No Event marks an informer's first failure; poll its counters briefly.
        while nodes is not None and not nodes.synced.is_set() and not nodes.stats.errors:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop informers and workers, then commit what is queued."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.discovery is not None:
            await self.discovery.stop()
        await asyncio.gather(*(i.stop() for i in self.informers.values()))
        await self._release_lease()

    async def _release_lease(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        if self._lease is not None:
            lease, self._lease = self._lease, None
            try:
                await self.store.release_sync(self.cluster, lease)
            except Exception:
                # Not fatal: the lease expires, and this host sees the process is gone.
                log.exception("giving the sync lease up failed")

    async def _heartbeat(self) -> None:
        """Keep the lease: a beat every `heartbeat` s (what `Store.sync_heartbeat` reports)."""
        while True:
            await asyncio.sleep(self.heartbeat)
            assert self._lease is not None
            try:
                if await self.store.renew_sync(self.cluster, self._lease):
                    continue
                log.warning("the sync lease was taken over while this sync was silent")
                self._lease = await self.store.acquire_sync(self.cluster)
            except SyncRunning as exc:
                self.lost_reason, self.lost_to = str(exc), exc.holder
                self.lost.set()
                log.error("another sync took this cluster over: %s", exc)
                return
            except Exception:
                log.exception("writing the sync heartbeat failed")

    async def __aenter__(self) -> Sync:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_idle(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Return once every change seen so far is computed and committed."""
        async with asyncio.timeout(timeout):
            while self._busy() or not self._idle.is_set():
                self._idle.clear()
                self._wake.set()
                await self._idle.wait()

    # ---- releases -----------------------------------------------------------------------

    async def add_release(self, release: ManagedRelease) -> None:
        """Manage one more release (or a new version of it); statuses follow."""
        self._adding.add(release.key)
        try:
            self.index.add_release(release)
            await self._load_children(release.key)
            self._ensure_informers(release)
            await self.wait_synced()
        finally:
            self._adding.discard(release.key)
            self._mark_release(release.key)

    async def _load_children(
        self, key: ReleaseKey, rows: Sequence[ResourceRecord] | None = None
    ) -> None:
        """Learn which child rows are stored for each member (a sync before this one wrote
        them: `rows` when already read), so the first computation drops those of pods gone
        meanwhile; rows of children whose member left the release go now."""
        if rows is None:
            rows = await self.store.list_resources(key, children=True)
        parent = {r.ref: r.owner for r in rows}
        members = self.index.members.get(key, set())
        for row in rows:
            top = row.ref
            for _ in range(len(parent)):
                up = parent.get(top)
                if up is None:
                    break
                top = up
            if top in members:
                self._child_refs.setdefault((key, top), {})[row.ref] = row.owner
            else:
                await self.store.remove_resource(key, row.ref)

    async def track(self, key: ReleaseKey, objects: Sequence[K8sObject]) -> None:
        """Set a release's inventory to `objects` (what deploy applied); rows of others go.

        The release must be recorded in the store. Objects of the inventory absent from the
        cluster are reported Missing.
        """
        release = self.index.releases.get(key)
        if release is None:
            releases = {r.key: r for r in await load_releases(self.store, self.cluster)}
            if key not in releases:
                raise KeyError(f"release {key} is not recorded; record it before tracking")
            release = releases[key]
        refs = frozenset(o.ref for o in objects)
        await self._replace(
            release, ManagedRelease(release.key, release.selector, refs, release.revision)
        )
        # What the store says now is what was just tracked: the refresher need not reload it.
        if (mark := (await self.store.release_marks(self.cluster)).get(key)) is not None:
            self._marks[key] = mark

    async def _replace(self, old: ManagedRelease | None, new: ManagedRelease) -> None:
        """Manage `new` instead of `old`; stored rows of objects it no longer has go."""
        if old is not None:
            for ref in old.inventory - new.inventory:
                for child in (ref, *self._child_refs.pop((new.key, ref), ())):
                    await self.store.remove_resource(new.key, child)
                    self._written.pop((new.key, child), None)
        await self.add_release(new)

    def _mark_release(self, key: ReleaseKey) -> None:
        now = time.monotonic()
        for member in self.index.member_keys(key):
            self._dirty.setdefault(member, now)
        self._dirty_apps.add(key)
        self._wake.set()

    async def _refresher(self) -> None:
        """Follow the releases and revisions any process writes (a CLI deploy, `manage`)."""
        while True:
            await asyncio.sleep(self.refresh)
            try:
                await self.refresh_releases()
            except Exception:
                log.exception("cannot read managed releases")

    async def refresh_releases(self) -> None:
        """One pass: a new release, or one whose revisions changed, is (re)loaded; a release
        gone from the store is dropped.

        One query reads each release's revision mark. A release added or replaced while the
        pass reads the store (`add_release`, `track`) is newer than what it read: the pass
        neither drops it for lack of a mark nor replaces it with what it loaded.
        """
        before = dict(self.index.releases)
        marks = await self.store.release_marks(self.cluster)
        for key, mark in marks.items():
            if self.index.releases.get(key) is not before.get(key):
                continue  # added since the marks were read: newer than them
            if key in before and self._marks.get(key) == mark:
                continue
            record = await self.store.get_release(key)
            if record is None:
                continue  # deleted since: the next pass drops it
            release = await load_release(self.store, record)
            if self.index.releases.get(key) is not before.get(key):
                continue  # added while this pass read it: the next pass compares again
            log.info("%s release %s", "reloading" if key in before else "now managing", key)
            # Another process may have written this release's rows: write afresh.
            for member in [m for m in self._written if m[0] == key]:
                del self._written[member]
            self._app_written.pop(key, None)
            await self._replace(before.get(key), release)
            self._marks[key] = mark
        for key, release in list(self.index.releases.items()):
            if key not in marks and before.get(key) is release:
                self.index.remove_release(release)
                self._marks.pop(key, None)

    # ---- informers ----------------------------------------------------------------------

    def _resource(self, group: str, kind: str) -> APIResource | None:
        assert self._served is not None
        res = self._served.for_kind(group, kind)
        if res is None or not {"list", "watch"} <= res.verbs:
            return None
        return res

    def _start_informer(self, res: APIResource, namespace: str | None) -> None:
        key = (res.group, res.kind, namespace if res.namespaced else None)
        if key in self.informers:
            return
        contents = (res.group, res.kind) in (("", "Secret"), ("", "ConfigMap"))
        node = (res.group, res.kind) == NODE_KIND

        async def handle(kind: str, body: dict[str, Any]) -> None:
            self._on_notification(kind, body)

        informer = Informer(
            self.kube,
            res,
            handle,
            namespace=key[2],
            on_connectivity=self._on_connectivity,
            # Secret values never stay in memory (nor reach the store); key names do.
            transform=without_contents if contents else node_essentials if node else slim,
            inactivity_timeout=self.inactivity_timeout,
            watch_timeout=self.watch_timeout,
        )
        self.informers[key] = informer
        if node:
            # Nodes are context: while their watch is down members are not Unknown for it.
            self._nodes = informer
        else:
            self._by_namespace.setdefault(key[2], []).append(informer)
        informer.start()

    def _ensure_informers(self, release: ManagedRelease) -> None:
        kinds = dict.fromkeys(NAMESPACED_KINDS)
        for ref in release.inventory:
            if ref.namespace:
                kinds.setdefault((ref.group, ref.kind))
        for group, kind in kinds:
            res = self._resource(group, kind)
            if res is None:
                continue  # not served: its members are Missing, nothing to watch
            if res.namespaced:
                self._start_informer(res, None if self._cluster_wide else release.namespace)
            else:
                self._start_informer(res, None)
        for ref in release.inventory:
            if not ref.namespace and (res := self._resource(ref.group, ref.kind)) is not None:
                self._start_informer(res, None)

    def _ensure_cluster_informers(self) -> None:
        for group, kind in (*CLUSTER_KINDS, NODE_KIND):
            res = self._resource(group, kind)
            if res is not None:
                self._start_informer(res, None)

    def _covering(self, namespace: str) -> Iterable[Informer]:
        yield from self._by_namespace.get(None, ())
        if namespace:
            yield from self._by_namespace.get(namespace, ())

    def _down(self, namespace: str) -> Connectivity | None:
        """The earliest-down informer a namespace's statuses depend on, if any is down."""
        down = [i.connectivity for i in self._covering(namespace) if not i.connectivity.up]
        return min(down, key=lambda c: c.since) if down else None

    async def _on_connectivity(self, state: Connectivity) -> None:
        if not self._ready:
            return
        for key in list(self.index.releases):
            self._mark_release(key)

    def _on_notification(self, kind: str, body: dict[str, Any]) -> None:
        self.stats.notifications += 1
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        if namespace and self._cluster_wide and namespace not in self.index.namespaces():
            return  # a cluster-wide informer sees every namespace; keep only managed ones
        change = self.index.apply(kind, body)
        if not self._ready:
            return
        now = time.monotonic()
        for member in change.members:
            self._dirty.setdefault(member, now)
            self._dirty_apps.add(member[0])
        self._snapshot(change.members, now)
        for event in change.events:
            self._queue_event(event, change.members)
        if change.members or change.events:
            self._wake.set()

    def _queue_event(self, event: K8sObject, members: Iterable[MemberKey]) -> None:
        ref = ref_of_subject(event)
        if ref is None:
            return
        body = event.body
        series = body.get("series") or {}
        count = series.get("count") or body.get("deprecatedCount") or 1
        last = event_time(event) or self.clock()
        first = (
            parse_time(body.get("deprecatedFirstTimestamp"))
            or parse_time(body.get("eventTime"))
            or parse_time(event.metadata.get("creationTimestamp"))
            or last
        )
        record = EventRecord(
            uid=str(event.metadata.get("uid") or ""),
            ref=ref,
            type=str(body.get("type") or ""),
            reason=str(body.get("reason") or ""),
            message=str(body.get("note") or ""),
            count=int(count),
            first_seen=first,
            last_seen=last,
            source=str(body.get("reportingController") or ""),
        )
        for key in {m[0] for m in members}:
            self._events[key].append(record)

    # ---- computing and writing ----------------------------------------------------------

    def _evaluable(self, key: ReleaseKey) -> bool:
        """Whether the release's statuses are computed now (managed, and not being added)."""
        return key in self.index.releases and key not in self._adding

    def _current(self, member: MemberKey) -> bool:
        """Whether `member` is still one of its release's: a snapshot queued before the
        release was replaced without it (its row removed) is not written back."""
        return self._evaluable(member[0]) and member[1] in self.index.members.get(member[0], ())

    def _busy(self) -> bool:
        return bool(
            self._dirty or self._dirty_apps or self._events or self._pending or self._pending_apps
        )

    def _snapshot(self, members: Iterable[MemberKey], seen: float) -> None:
        """Keep each member's (and its app's) status if this notification changed it.

        The worker computes from the index as it is when it runs, which by then may have
        undone the change (deleted, then re-created); the snapshot keeps the change itself.
        """
        now = self.clock()
        apps: set[ReleaseKey] = set()
        for member in members:
            if not self._evaluable(member[0]):
                continue
            status = self._compute(member, now)
            if self._record(member, status, seen, now):
                apps.add(member[0])
        for key in apps:
            app = self._app(key, now)
            previous = self._app_states.get(key)
            self._app_states[key] = app
            if previous is None or not same_state(previous, app):
                self._pending_apps.setdefault(key, []).append((app, seen, now))

    def _record(
        self, member: MemberKey, status: ResourceStatus, seen: float, now: datetime
    ) -> bool:
        """Remember `status` as the member's latest; queue it if its state, reason, ... changed."""
        previous = self._member_states.get(member)
        self._member_states[member] = status
        if previous is not None and same_state(previous, status):
            return False
        self._pending.setdefault(member, []).append((status, seen, now))
        return True

    def _compute(self, member: MemberKey, now: datetime) -> ResourceStatus:
        key, ref = member
        down = self._down(ref.namespace or key.namespace)
        if down is not None:
            return _disconnected(ref, down)
        self.stats.evaluations += 1
        nodes = self._nodes
        self.index.nodes_known = (
            nodes is not None and nodes.synced.is_set() and nodes.connectivity.up
        )
        return self.index.evaluate_member(key, ref, now)

    def _app(self, key: ReleaseKey, now: datetime) -> ResourceStatus:
        """The release's app status now (Unknown while a watch it depends on is down)."""
        if (down := self._down(key.namespace)) is not None:
            return _disconnected(app_ref(key), down)
        components: list[ResourceStatus] = []
        others: list[ResourceStatus] = []
        for member in self.index.member_keys(key):
            status = self._member_states.get(member)
            if status is None:
                continue
            (components if is_workload(member[1]) else others).append(status)
        release = self.index.releases.get(key)
        gone = uninstalled_app(release) if release is not None and not components else None
        app = gone or app_status(components, others)
        return ResourceStatus(
            app_ref(key),
            app.state,
            app.reason,
            app.message,
            app.since or now,
            root_cause=app.root_cause,
        )

    def _observed(
        self,
        member: MemberKey,
        status: ResourceStatus,
        now: datetime,
        owner: ObjectRef | None = None,
        restarts: int | None = None,
    ) -> ObservedStatus | None:
        """The row to write, or None when nothing changed since the last write.

        `owner`: for a workload's child, the key of its controlling owner; `restarts`: a
        pod's container restarts.
        """
        written = to_write(self._written.get(member), status, now)
        if written is None:
            return None
        self._written[member] = written
        return ObservedStatus(
            ref=status.ref,
            state=written.state,
            reason=written.reason,
            message=written.message,
            since=written.since,
            observed_at=now,
            resource_version=written.resource_version,
            generation=status.observed_generation,
            root_cause=written.root_cause,
            owner=owner,
            restarts=restarts,
        )

    def _children(
        self, member: MemberKey, now: datetime
    ) -> tuple[list[ObservedStatus], list[ObjectRef]]:
        """A workload member's child rows to write, and the child rows to drop (gone)."""
        key, ref = member
        if not is_workload(ref):
            return [], []
        known = self._child_refs.get(member, {})
        found: dict[ObjectRef, tuple[ResourceStatus, ObjectRef | None, int | None]] = {}
        down = self._down(ref.namespace or key.namespace)
        if down is not None:
            # What the children are now is unknown too; their rows say so.
            for child, owner in known.items():
                found[child] = (_disconnected(child, down), owner, None)
        else:
            for obj, owner in self.index.descendants(ref):
                restarts = pod_restarts(obj) if obj.kind == "Pod" else None
                found[obj.ref] = (self.index.evaluate_child(obj, now), owner, restarts)
        rows = [
            row
            for child, (status, owner, restarts) in found.items()
            if (row := self._observed((key, child), status, now, owner, restarts)) is not None
        ]
        gone = sorted(known.keys() - found.keys())
        for child in gone:
            self._written.pop((key, child), None)
        self._child_refs[member] = {child: owner for child, (_, owner, _) in found.items()}
        return rows, gone

    def _observed_app(
        self, key: ReleaseKey, status: ResourceStatus, now: datetime
    ) -> AppRecord | None:
        """The app status to write, or None when nothing changed since the last write."""
        written = to_write(self._app_written.get(key), status, now)
        if written is None:
            return None
        self._app_written[key] = written
        return AppRecord(
            written.state, written.reason, written.message, written.since, now, written.root_cause
        )

    async def _write(
        self,
        rows: list[tuple[ReleaseKey, ObservedStatus, float]],
        app_rows: list[tuple[ReleaseKey, AppRecord, float]],
        removed: Sequence[MemberKey] = (),
        *,
        first: int,
    ) -> None:
        """Write statuses, `seen` being when each change was noticed: in one transaction,
        or past `first` items in growing batches of whole releases, each committed as soon
        as written (`batches`).

        `removed`: child rows to drop afterwards (pods and ReplicaSets gone).
        """
        for key, ref in removed:
            await self.store.remove_resource(key, ref)
        if not rows and not app_rows:
            return
        lag = 0.0  # this pass's lag: its oldest change's latency
        for batch, app_batch in batches(rows, app_rows, first):
            results, app_results = await self.store.upsert_statuses(
                [(key, row) for key, row, _ in batch], [(key, app) for key, app, _ in app_batch]
            )
            committed = time.monotonic()
            self.stats.commits += 1
            for (key, row, seen), changed in zip(batch, results, strict=True):
                if changed is None:
                    continue  # the release was forgotten meanwhile
                latency = self._count(changed, committed - seen)
                lag = max(lag, latency)
                if self.on_commit is not None:
                    self.on_commit(key, row, changed, latency)
            for (_, _, seen), changed in zip(app_batch, app_results, strict=True):
                if changed is not None:
                    lag = max(lag, self._count(changed, committed - seen))
        metrics.SYNC_LAG.set(lag)

    def _count(self, changed: bool, latency: float) -> float:
        self.stats.writes += 1
        if changed:
            self.stats.transitions += 1
            self.stats.latencies.append(latency)
        return latency

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._busy():
                self._idle.set()
                continue
            began = time.monotonic()
            pending, self._pending = self._pending, {}
            pending_apps, self._pending_apps = self._pending_apps, {}
            dirty, self._dirty = self._dirty, {}
            apps, self._dirty_apps = self._dirty_apps, set()
            events, self._events = self._events, defaultdict(list)
            now = self.clock()
            # One transaction, in list order: a member's snapshots commit in the order seen.
            rows: list[tuple[ReleaseKey, ObservedStatus, float]] = []
            for member, snapshots in pending.items():
                if not self._current(member):
                    continue
                for status, seen, at in snapshots:
                    row = self._observed(member, status, at)
                    if row is not None:
                        rows.append((member[0], row, seen))
            first_seen: dict[ReleaseKey, float] = {}
            removed: list[MemberKey] = []
            for member, seen in dirty.items():
                if not self._current(member):
                    continue
                first_seen[member[0]] = min(seen, first_seen.get(member[0], seen))
                status = self._compute(member, now)
                self._member_states[member] = status
                row = self._observed(member, status, now)
                if row is not None:
                    rows.append((member[0], row, seen))
                child_rows, gone = self._children(member, now)
                rows.extend((member[0], child, seen) for child in child_rows)
                removed.extend((member[0], child) for child in gone)
            app_rows: list[tuple[ReleaseKey, AppRecord, float]] = []
            for key, app_snapshots in pending_apps.items():
                if not self._evaluable(key):
                    continue
                for status, seen, at in app_snapshots:
                    if (app_row := self._observed_app(key, status, at)) is not None:
                        app_rows.append((key, app_row, seen))
            for key in apps:
                if not self._evaluable(key):
                    continue
                app = self._app(key, now)
                self._app_states[key] = app
                if (app_row := self._observed_app(key, app, now)) is not None:
                    app_rows.append((key, app_row, first_seen.get(key, time.monotonic())))
            computed, commits = time.monotonic(), self.stats.commits
            # A promoted standby's first pass (`takeover`) is written in batches.
            first = self.write_batch if self.takeover else len(rows) + len(app_rows)
            writes = [self._write(rows, app_rows, removed, first=first)]
            for key, records in events.items():
                if key in self.index.releases:
                    writes.append(self._store_events(key, records))
            try:
                await asyncio.gather(*writes)
            except Exception:
                # The store reports its own failures; forget what we believed was written.
                log.exception("writing statuses failed")
                for member in dirty.keys() | pending.keys():
                    self._written.pop(member, None)
                    for child in self._child_refs.get(member, {}):
                        self._written.pop((member[0], child), None)
                    self._dirty.setdefault(member, time.monotonic())
                self._dirty_apps |= apps | pending_apps.keys()
                for key in self._dirty_apps:
                    self._app_written.pop(key, None)
                await asyncio.sleep(1.0)
            if self.takeover:
                commits = self.stats.commits - commits
                self._log_takeover(len(rows) + len(app_rows), computed - began, commits, computed)
            if not self._busy():
                self._idle.set()
            else:
                self._wake.set()

    def _log_takeover(self, items: int, computing: float, commits: int, computed: float) -> None:
        """The steps of a promotion and its first pass, once (where a failover's seconds go)."""
        steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.takeover)
        self.takeover = []
        log.warning(
            "taking over: %s; first pass: %d row(s) computed in %.2f s, committed in %d "
            "transaction(s) in %.2f s",
            steps,
            items,
            computing,
            commits,
            time.monotonic() - computed,
        )

    async def _store_events(self, key: ReleaseKey, records: list[EventRecord]) -> None:
        self.stats.events_stored += await self.store.add_events(key, records)

    async def _ticker(self) -> None:
        """Re-evaluate what a rule may change with time alone (Progressing, e.g. Unschedulable)."""
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for member, status in list(self._member_states.items()):
                if status.state is State.PROGRESSING:
                    self._dirty.setdefault(member, now)
                    self._dirty_apps.add(member[0])
            if self._dirty:
                self._wake.set()

    async def _pruner(self) -> None:
        while True:
            await asyncio.sleep(self.prune_every)
            try:
                await self.store.prune_history()
            except Exception:
                log.exception("pruning history failed")


def _disconnected(ref: ObjectRef, down: Connectivity) -> ResourceStatus:
    return unknown(
        ref,
        "WatchDisconnected",
        f"watch disconnected since {down.since.isoformat(timespec='seconds')}, "
        f"reason: {down.reason}",
        down.since,
    )
