"""The `status` action: one release's app, component and resource statuses, and their source.

Like Helm's `pkg/action/status.go`, one function the CLI and the API both call. Where the
answer comes from is part of the answer:

- a sync (`helmguard serve`) is feeding the store (its heartbeat is fresh): the stored
  statuses, with when they were observed;
- otherwise the cluster, read now from the release's inventory (the store's latest revision,
  or the release records on the cluster, as `helm status` reads them), or from a selector;
- with neither a live sync nor a readable cluster: what was stored last, Unknown, saying why.

A release that nothing knows raises ReleaseNotFound; one whose inventory (or selector) finds
no object is Missing/NotFound. Nothing found is never Ready.

One file past 400 lines: the one release and the list share the store's and the cluster's
readings and the answer's shape; split, each half would re-derive the other's rules.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.history import read_history
from helmguard.deploy.observe import observe
from helmguard.kube.client import Kube
from helmguard.kube.errors import KubeError
from helmguard.kube.kinds import is_workload
from helmguard.manifest import ObjectRef
from helmguard.status import AppStatus, ResourceStatus, State, app_status
from helmguard.store import (
    SYNC_LEASE_SECONDS,
    AppRecord,
    ReleaseKey,
    ReleaseRecord,
    ResourceRecord,
    Store,
)
from helmguard.sync.look import looks
from helmguard.sync.releases import (
    UNINSTALLED_STATUS,
    ManagedRelease,
    load_release,
    load_releases,
    uninstalled_app,
)
from helmguard.sync.selector import parse_selector

# How long reading the cluster may take before `status` gives up on it.
LIVE_TIMEOUT = 30.0
# How long a command that only reads retries a cluster that does not answer (connection
# refused, no route): helm and kubectl try once; a deploy waits it out within its --timeout.
REACH_TIMEOUT = 5.0

KubeOpener = Callable[[], Awaitable[Kube]]


class ReleaseNotFound(LookupError):
    """Neither the store nor the cluster knows the release, and no selector was given;
    `cluster_read`: whether the cluster was read (else it could not be)."""

    def __init__(self, message: str, *, cluster_read: bool = True) -> None:
        super().__init__(message)
        self.cluster_read = cluster_read


@dataclass(frozen=True)
class MemberStatus:
    """One object of the release: its state and why, as observed at `observed_at`."""

    ref: ObjectRef
    state: str
    reason: str
    message: str
    since: datetime | None
    observed_at: datetime | None
    root_cause: ObjectRef | None


@dataclass(frozen=True)
class ReleaseStatus:
    """A release's status, its members', and where the answer came from."""

    key: ReleaseKey
    source: str  # "live" or "store"
    detail: str  # in words: what was read, and how fresh it is
    state: str
    reason: str
    message: str
    since: datetime | None
    root_cause: ObjectRef | None
    members: tuple[MemberStatus, ...]
    # The release's latest revision and what its operation left ("deployed", "failed: …"),
    # from the record on the cluster when it was read, else from the store.
    last_revision: int | None = None
    last_operation: str = ""

    @property
    def found(self) -> bool:
        """Whether any object of the release was found: not when it has none, nor when every
        one is Missing (a release with one object gone is found, and Missing)."""
        if not (self.state == State.MISSING.value and self.reason == "NotFound"):
            return True
        return any(m.state != State.MISSING.value for m in self.members)


def _members(rows: Sequence[ResourceRecord]) -> tuple[MemberStatus, ...]:
    return tuple(
        MemberStatus(r.ref, r.state, r.reason, r.message, r.since, r.observed_at, r.root_cause)
        for r in rows
    )


def _alive(beat: datetime | None) -> bool:
    """Whether a sync whose last heartbeat is `beat` is alive (None: no sync holds it)."""
    return beat is not None and datetime.now(UTC) - beat < timedelta(seconds=SYNC_LEASE_SECONDS)


@dataclass(frozen=True)
class _OnCluster:
    """The latest release record on the cluster: its revision, what it applied or meant to
    (nothing once uninstalled), and its status in words (revision 0: no record)."""

    revision: int = 0
    inventory: frozenset[ObjectRef] = frozenset()
    operation: str = ""


async def _on_cluster(kube: Kube, key: ReleaseKey) -> _OnCluster:
    cluster = Cluster(kube, deadline=time.monotonic() + LIVE_TIMEOUT)
    history = await read_history(cluster, key.namespace, key.name)
    if not history:
        return _OnCluster()
    latest = history[-1]
    operation = latest.status + (f": {latest.description}" if latest.description else "")
    if latest.status == UNINSTALLED_STATUS:
        return _OnCluster(latest.revision, frozenset(), operation)  # uninstall --keep-history
    refs = frozenset({*latest.inventory, *(o.ref for o in latest.objects)})
    return _OnCluster(latest.revision, refs, operation)


@dataclass(frozen=True)
class LiveStatus:
    """A release's members and app status as the cluster shows them at `at`."""

    release: ManagedRelease
    members: tuple[ResourceStatus, ...]
    app: AppStatus
    at: datetime


async def live_status(kube: Kube, release: ManagedRelease) -> LiveStatus:
    """One look at the release (`observe`, as the deploy's wait and the sync judge it).

    Without permission to list Nodes the one verdict that needs them (a DaemonSet with no
    desired node) is Unknown; without permission to list what workloads need by name
    (Secrets, …) that is not judged; nothing else fails.
    """
    cluster = Cluster(kube, deadline=time.monotonic() + LIVE_TIMEOUT)
    snapshot = await observe(cluster, looks(release))
    members = tuple(snapshot.statuses[ref] for ref in sorted(snapshot.statuses))
    components = [m for m in members if is_workload(m.ref)]
    others = [m for m in members if not is_workload(m.ref)]
    app = (None if members else uninstalled_app(release)) or app_status(components, others)
    return LiveStatus(release, members, app, snapshot.at)


async def _live(kube: Kube, managed: ManagedRelease, detail: str) -> ReleaseStatus:
    found = await live_status(kube, managed)
    app = found.app
    return ReleaseStatus(
        managed.key,
        "live",
        detail,
        app.state.value,
        app.reason,
        app.message,
        app.since,
        app.root_cause,
        tuple(
            MemberStatus(m.ref, m.state.value, m.reason, m.message, m.since, found.at, m.root_cause)
            for m in found.members
        ),
    )


@dataclass(frozen=True)
class _Known:
    """What the store knows of a release, and whether a live sync keeps it."""

    managed: ManagedRelease | None
    record: ReleaseRecord | None
    rows: list[ResourceRecord]
    alive: bool
    beat: datetime | None

    @property
    def app(self) -> AppRecord | None:
        return self.record.app if self.record is not None else None

    def operation(self) -> tuple[int | None, str]:
        """The store's word on the latest revision and its operation."""
        if self.record is None:
            return None, ""
        return self.record.current_revision, self.record.status


async def _known(store: Store | None, key: ReleaseKey) -> _Known:
    if store is None:
        return _Known(None, None, [], False, None)
    record = await store.get_release(key)
    if record is None:
        return _Known(None, None, [], False, None)
    beat = await store.sync_heartbeat(key.cluster)
    managed = await load_release(store, record)
    return _Known(managed, record, await store.list_resources(key), _alive(beat), beat)


async def _known_all(store: Store, records: Sequence[ReleaseRecord]) -> list[_Known]:
    """`_known` of each of `records`: three queries per cluster, whatever their number."""
    known: dict[ReleaseKey, _Known] = {}
    for cluster in sorted({r.key.cluster for r in records}):
        mine = [r for r in records if r.key.cluster == cluster]
        beat = await store.sync_heartbeat(cluster)
        rows = await store.cluster_resources(cluster)
        managed = await load_releases(store, cluster, records=mine, resources=rows)
        for record, release in zip(mine, managed, strict=True):
            known[record.key] = _Known(
                release, record, list(rows.get(record.key, ())), _alive(beat), beat
            )
    return [known[r.key] for r in records]


def _from_store(key: ReleaseKey, known: _Known) -> ReleaseStatus:
    """What a live sync stored."""
    app, beat = known.app, known.beat
    members = _members(known.rows)
    ago = f"{(datetime.now(UTC) - beat).total_seconds():.0f}s" if beat else "?"
    detail = f"stored by serve (sync alive, heartbeat {ago} ago)"
    if app is None:
        return ReleaseStatus(
            key,
            "store",
            detail,
            State.UNKNOWN.value,
            "NotSynced",
            "serve's sync has not stored a status for this release yet",
            None,
            None,
            members,
            *known.operation(),
        )
    return ReleaseStatus(
        key,
        "store",
        detail,
        app.state,
        app.reason,
        app.message,
        app.since,
        app.root_cause,
        members,
        *known.operation(),
    )


async def release_status(
    key: ReleaseKey,
    *,
    store: Store | None,
    open_kube: KubeOpener | None,
    live: bool = False,
    selector: str | None = None,
) -> ReleaseStatus:
    """The release's status from a live sync's store, or else from the cluster now.

    `live` reads the cluster even while a sync is alive (the store still says what the
    release is: its inventory, or its selector); `selector` evaluates the objects it matches
    (plus any stored inventory). Raises ReleaseNotFound when nothing knows the release;
    KubeError when the cluster must be read (`live`) and cannot be.
    """
    known = await _known(store, key)
    if known.managed is not None and known.alive and not live and selector is None:
        return _from_store(key, known)
    if open_kube is None:
        return _stale(key, known, "no cluster was given")
    try:
        kube = await open_kube()
    except KubeError as err:
        if live:
            raise
        return _stale(key, known, f"the cluster could not be read: {err.explain()}")
    async with kube:
        try:
            return await _read_cluster(kube, key, known, selector)
        except KubeError as err:
            if live:
                raise
            return _stale(key, known, f"the cluster could not be read: {err.explain()}")


async def release_statuses(
    records: Sequence[ReleaseRecord],
    *,
    store: Store,
    open_kube: KubeOpener | None,
    cluster: str = "",
) -> list[ReleaseStatus]:
    """Every release's status as `release_status` gives it, for stored releases (as read).

    Those a live sync keeps: what it stored. The others of `cluster` (the one `open_kube`
    reaches): the cluster, read now through one connection. Those of other clusters that no
    sync keeps: what was stored last, Unknown, saying why.
    """
    keys = [r.key for r in records]
    known = await _known_all(store, records)
    kube: Kube | None = None
    why = "no cluster was given"
    if open_kube is not None and any(
        k.managed is not None and not k.alive and key.cluster == cluster
        for k, key in zip(known, keys, strict=True)
    ):
        try:
            kube = await open_kube()
        except KubeError as err:
            why = f"the cluster could not be read: {err.explain()}"
    gate = asyncio.Semaphore(8)

    async def one(key: ReleaseKey, k: _Known) -> ReleaseStatus:
        if k.managed is None or k.alive:
            return _from_store(key, k)
        if key.cluster != cluster:
            reads = f"cluster {cluster!r}" if cluster else "the default cluster"
            return _stale(key, k, f"this command reads {reads} (--cluster {key.cluster})")
        if kube is None:
            return _stale(key, k, why)
        async with gate:
            try:
                return await _read_cluster(kube, key, k, None)
            except KubeError as err:
                return _stale(key, k, f"the cluster could not be read: {err.explain()}")

    try:
        return list(
            await asyncio.gather(*(one(key, k) for key, k in zip(keys, known, strict=True)))
        )
    finally:
        if kube is not None:
            await kube.aclose()


async def _read_cluster(
    kube: Kube, key: ReleaseKey, known: _Known, selector: str | None
) -> ReleaseStatus:
    managed = known.managed
    inventory = managed.inventory if managed is not None else frozenset()
    revision = managed.revision if managed is not None else None
    last_revision, operation = known.operation()
    where = "the store's inventory"
    if managed is None or managed.selector is None:
        # The records on the cluster say which revision is current: helm may have written
        # one the store has not heard of (`helm upgrade`/`rollback` of this release).
        on_cluster = await _on_cluster(kube, key)
        if on_cluster.revision >= (last_revision or 0) and on_cluster.revision:
            last_revision, operation = on_cluster.revision, on_cluster.operation
        if not inventory and (on_cluster.revision or managed is None):
            revision, inventory = on_cluster.revision, on_cluster.inventory
            where = "the release record on the cluster"
        elif on_cluster.revision > (revision or 0):
            where = (
                f"the release record on the cluster, which another client wrote after the "
                f"store's revision {revision}"
            )
            revision, inventory = on_cluster.revision, on_cluster.inventory
        elif not on_cluster.revision:
            where = "the store's inventory; the cluster has no release record of it"
    chosen = parse_selector(selector) if selector else (managed.selector if managed else None)
    if not inventory and chosen is None:
        if managed is None:
            raise ReleaseNotFound(
                f"release {key} not found: not in the store and no release record in "
                f"namespace {key.namespace} on the cluster"
            )
        where = "the store (no inventory recorded)"
    # What the store says of its last operation holds for the revision it knows.
    same = managed if managed is not None and revision == managed.revision else None
    uninstalled, deploying = (same.uninstalled, same.deploying) if same else (False, False)
    release = ManagedRelease(key, chosen, inventory, revision, uninstalled, deploying)
    parts = []
    if inventory:
        parts.append(f"inventory of revision {revision} from {where}")
    if chosen is not None:
        parts.append(f"selector {chosen}")
    detail = "live from the cluster, " + (", ".join(parts) or where)
    found = await _live(kube, release, detail)
    return replace(found, last_revision=last_revision, last_operation=operation)


def _stale(key: ReleaseKey, known: _Known, why: str) -> ReleaseStatus:
    """What the store last had, as Unknown: no sync keeps it true and the cluster is unread."""
    app, beat = known.app, known.beat
    if known.managed is None:
        raise ReleaseNotFound(f"release {key} is not in the store, and {why}", cluster_read=False)
    last = (
        f"last stored: {app.state} {app.reason} at {app.observed_at.isoformat(timespec='seconds')}"
        if app is not None
        else "nothing stored yet"
    )
    since = beat.isoformat(timespec="seconds") if beat else "never"
    return ReleaseStatus(
        key,
        "store",
        f"stored by serve; no sync is running (last heartbeat: {since})",
        State.UNKNOWN.value,
        "NotSynced",
        f"no sync keeps this release's status, and {why}; {last}",
        app.since if app is not None else None,
        app.root_cause if app is not None else None,
        _members(known.rows),
        *known.operation(),
    )
