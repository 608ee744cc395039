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
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.history import read_history
from helmguard.deploy.observe import observe
from helmguard.kube.client import Kube
from helmguard.kube.errors import KubeError
from helmguard.kube.kinds import is_workload
from helmguard.manifest import ObjectRef
from helmguard.status import AppStatus, ResourceStatus, State, app_status
from helmguard.store import SYNC_LEASE_SECONDS, AppRecord, ReleaseKey, ResourceRecord, Store
from helmguard.sync.look import looks
from helmguard.sync.releases import (
    UNINSTALLED_STATUS,
    ManagedRelease,
    load_release,
    uninstalled_app,
)
from helmguard.sync.selector import parse_selector

# How long reading the cluster may take before `status` gives up on it.
LIVE_TIMEOUT = 30.0

KubeOpener = Callable[[], Awaitable[Kube]]


class ReleaseNotFound(LookupError):
    """Neither the store nor the cluster knows the release, and no selector was given."""


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


async def _sync_alive(store: Store, key: ReleaseKey) -> tuple[bool, datetime | None]:
    beat = await store.sync_heartbeat(key.cluster)
    alive = beat is not None and datetime.now(UTC) - beat < timedelta(seconds=SYNC_LEASE_SECONDS)
    return alive, beat


async def _cluster_inventory(kube: Kube, key: ReleaseKey) -> tuple[int, frozenset[ObjectRef]]:
    """The latest revision on the cluster and what it applied or meant to ([] if none)."""
    cluster = Cluster(kube, deadline=time.monotonic() + LIVE_TIMEOUT)
    history = await read_history(cluster, key.namespace, key.name)
    if not history:
        return 0, frozenset()
    latest = history[-1]
    if latest.status == UNINSTALLED_STATUS:
        return latest.revision, frozenset()  # uninstall --keep-history: nothing is there
    return latest.revision, frozenset({*latest.inventory, *(o.ref for o in latest.objects)})


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
    managed: ManagedRelease | None = None
    app: AppRecord | None = None
    rows: list[ResourceRecord] = []
    alive, beat = False, None
    if store is not None:
        record = await store.get_release(key)
        if record is not None:
            managed = await load_release(store, record)
            app = record.app
            rows = await store.list_resources(key)
            alive, beat = await _sync_alive(store, key)
    if managed is not None and alive and not live and selector is None:
        members = _members(rows)
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
        )
    if open_kube is None:
        return _stale(key, managed, app, rows, beat, "no cluster was given")
    try:
        kube = await open_kube()
    except KubeError as err:
        if live:
            raise
        return _stale(
            key, managed, app, rows, beat, f"the cluster could not be read: {err.explain()}"
        )
    async with kube:
        try:
            return await _read_cluster(kube, key, managed, selector)
        except KubeError as err:
            if live:
                raise
            why = f"the cluster could not be read: {err.explain()}"
            return _stale(key, managed, app, rows, beat, why)


async def _read_cluster(
    kube: Kube, key: ReleaseKey, managed: ManagedRelease | None, selector: str | None
) -> ReleaseStatus:
    inventory = managed.inventory if managed is not None else frozenset()
    revision = managed.revision if managed is not None else None
    where = "the store's inventory"
    if managed is None or managed.selector is None:
        # The records on the cluster say which revision is current: helm may have written
        # one the store has not heard of (`helm upgrade`/`rollback` of this release).
        on_cluster, recorded = await _cluster_inventory(kube, key)
        if not inventory and (on_cluster or managed is None):
            revision, inventory = on_cluster, recorded
            where = "the release record on the cluster"
        elif on_cluster > (revision or 0):
            where = (
                f"the release record on the cluster, which another client wrote after the "
                f"store's revision {revision}"
            )
            revision, inventory = on_cluster, recorded
        elif on_cluster == 0:
            where = "the store's inventory; the cluster has no release record of it"
    chosen = parse_selector(selector) if selector else (managed.selector if managed else None)
    if not inventory and chosen is None:
        if managed is None:
            raise ReleaseNotFound(
                f"release {key} not found: not in the store and no release record in "
                f"namespace {key.namespace} on the cluster"
            )
        where = "the store (no inventory recorded)"
    uninstalled = managed is not None and managed.uninstalled and revision == managed.revision
    release = ManagedRelease(key, chosen, inventory, revision, uninstalled)
    parts = []
    if inventory:
        parts.append(f"inventory of revision {revision} from {where}")
    if chosen is not None:
        parts.append(f"selector {chosen}")
    return await _live(kube, release, "live from the cluster, " + (", ".join(parts) or where))


def _stale(
    key: ReleaseKey,
    managed: ManagedRelease | None,
    app: AppRecord | None,
    rows: Sequence[ResourceRecord],
    beat: datetime | None,
    why: str,
) -> ReleaseStatus:
    """What the store last had, as Unknown: no sync keeps it true and the cluster is unread."""
    if managed is None:
        raise ReleaseNotFound(f"release {key} is not in the store, and {why}")
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
        _members(rows),
    )
