"""Which releases the sync manages, and how a release deployed by anything gets registered.

A release is managed when it is in the store. Its members are:

- its inventory: the objects its latest revision applied, as the action that applied them
  recorded (`RevisionRecord.inventory`). An inventory object absent from the cluster is
  Missing. Releases recorded before inventories existed fall back to the objects the store
  has current-status rows for.
- for a release registered with `helmguard manage` (deployed by something else), the objects
  of its namespace whose labels match its selector and that no controller owns (children
  such as ReplicaSets and Pods count through their owner instead). The selector is kept in
  the plan of revision 0 (`plan["selector"]`).

A release with neither has no members, and the sync reports it NotFound, never Ready;
one whose last operation removed it (uninstall --keep-history, an --atomic first install
that failed) is Missing, Uninstalled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from helmguard.manifest import ObjectRef
from helmguard.status import AppStatus, ResourceStatus, State
from helmguard.status.aggregate import missing
from helmguard.store import (
    InventoryItem,
    ReleaseKey,
    ReleaseRecord,
    ResourceRecord,
    RevisionRecord,
    values_digest,
)
from helmguard.sync.selector import Selector, parse_selector

if TYPE_CHECKING:
    from helmguard.store import Store  # SQLAlchemy: only the caller's store brings it

INSTANCE_LABEL = "app.kubernetes.io/instance"
# ReleaseRecord.status once the last operation removed the release (uninstall's outcome,
# deploy.result.Outcome.UNINSTALLED: the layers keep sync below deploy).
UNINSTALLED_STATUS = "uninstalled"
# ReleaseRecord.status while a deploy, upgrade or rollback of it runs (deploy/run.py's word).
DEPLOYING_STATUS = "deploying"
NOT_APPLIED_YET = "NotAppliedYet"


@dataclass(frozen=True)
class ManagedRelease:
    """A release the sync keeps statuses for."""

    key: ReleaseKey
    selector: Selector | None = None  # only for releases registered with `manage`
    inventory: frozenset[ObjectRef] = frozenset()
    revision: int | None = None  # the store's current revision when this was loaded
    # Its last operation removed it from the cluster, its history kept: `uninstall
    # --keep-history`, or a first install that failed and --atomic deleted.
    uninstalled: bool = False
    # Its last operation (a deploy, upgrade or rollback) is running: what its inventory
    # names and the cluster does not have yet is still to be applied, not Missing.
    deploying: bool = False

    @property
    def namespace(self) -> str:
        return self.key.namespace


def default_selector(name: str) -> str:
    return f"{INSTANCE_LABEL}={name}"


async def load_release(store: Store, record: ReleaseRecord) -> ManagedRelease:
    """The managed release for a stored release: its inventory, and its selector if managed."""
    revisions = await store.list_revisions(record.key)
    if _stored_inventory(revisions) is not None:
        return managed_release(record, revisions, ())
    return managed_release(record, revisions, await store.list_resources(record.key))


async def load_releases(
    store: Store,
    cluster: str = "",
    *,
    records: Sequence[ReleaseRecord] | None = None,
    resources: Mapping[ReleaseKey, Sequence[ResourceRecord]] | None = None,
) -> list[ManagedRelease]:
    """Every release recorded in the store for `cluster` (three queries, whatever their number).

    `records` (`list_releases`) and `resources` (`cluster_resources`): when already read.
    """
    if records is None:
        records = await store.list_releases(cluster)
    revisions = await store.cluster_revisions(cluster)
    if resources is None:
        resources = await store.cluster_resources(cluster)
    return [managed_release(r, revisions.get(r.key, []), resources.get(r.key, ())) for r in records]


def managed_release(
    record: ReleaseRecord,
    revisions: Sequence[RevisionRecord],
    resources: Sequence[ResourceRecord],
) -> ManagedRelease:
    """A stored release as the sync manages it: the inventory its latest revision that has
    one recorded (else the objects it has status rows of: `resources`), the selector of the
    latest revision that names one."""
    selector = next(
        (
            r.plan["selector"]
            for r in reversed(revisions)
            if r.plan and isinstance(r.plan.get("selector"), str)
        ),
        None,
    )
    stored = _stored_inventory(revisions)
    if stored is not None:
        inventory = frozenset(i.ref for i in stored)
    else:
        inventory = frozenset(r.ref for r in resources)
    return ManagedRelease(
        record.key,
        parse_selector(selector) if selector is not None else None,
        inventory,
        record.current_revision,
        record.status == UNINSTALLED_STATUS,
        record.status == DEPLOYING_STATUS,
    )


def absent(release: ManagedRelease | None, ref: ObjectRef, now: datetime) -> ResourceStatus:
    """An object of `release` the cluster does not have: Missing; Progressing while the
    release's deploy runs and its inventory names it (applied in a later wave, or next)."""
    if release is not None and release.deploying and ref in release.inventory:
        message = f"{ref} is not created yet: revision {release.revision} is being deployed"
        return ResourceStatus(ref, State.PROGRESSING, NOT_APPLIED_YET, message, now)
    return missing(ref, now)


def uninstalled_app(release: ManagedRelease) -> AppStatus | None:
    """The app status of a release whose last operation removed everything it had (Missing,
    Uninstalled: not NotFound, which says something should be there), else None."""
    if not release.uninstalled or release.inventory or release.selector is not None:
        return None
    return AppStatus(
        State.MISSING,
        "Uninstalled",
        f"release {release.key} was uninstalled (revision {release.revision}); nothing of it "
        "is on the cluster and its history is kept (`helmguard uninstall` forgets it)",
        None,
        None,
        None,
        (),
    )


def _stored_inventory(revisions: Sequence[RevisionRecord]) -> Sequence[InventoryItem] | None:
    return next((r.inventory for r in reversed(revisions) if r.inventory is not None), None)


async def register_release(
    store: Store,
    key: ReleaseKey,
    selector: str,
    *,
    chart: str = "external",
    chart_version: str = "",
) -> ManagedRelease:
    """Record a release deployed by something else (helm, kubectl) so the sync manages it.

    The selector is validated and stored in the plan of revision 0 (outcome "registered");
    a release already deployed through helmguard keeps its revisions and gets a selector
    revision only if it has none.
    """
    parsed = parse_selector(selector)
    existing = await store.get_release(key)
    now = datetime.now(UTC)
    revision = RevisionRecord(
        release=key,
        number=0,
        chart=existing.chart if existing else chart,
        chart_version=existing.chart_version if existing else chart_version,
        values_digest=values_digest({}),
        started_at=now,
        plan={"selector": parsed.text, "registered_by": "helmguard manage"},
        outcome="registered",
        finished_at=now,
    )
    if existing is None:
        # One transaction: the sync never loads the release without its selector.
        record = ReleaseRecord(key, chart, chart_version, status="registered")
        await store.record_release(record, revision=revision)
    else:
        await store.record_revision(revision)
    return await load_release(store, existing or ReleaseRecord(key, chart, chart_version))
