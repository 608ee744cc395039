"""Which releases the sync manages, and how a release deployed by anything gets registered.

A release is managed when it is in the store. Its objects are:

- the objects in its namespace whose labels match its selector and that no controller owns
  (children such as ReplicaSets and Pods count through their owner instead);
- its inventory: every object the store has a current-status row for (what `track()` or an
  earlier sync recorded). An inventory object absent from the cluster is Missing.

The selector is kept in the plan of the release's latest revision (`plan["selector"]`);
a release without one uses Helm's standard label `app.kubernetes.io/instance=<name>`.
`register_release` (the `helmguard manage` command) records such a release with revision 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, ReleaseRecord, RevisionRecord, Store, values_digest
from helmguard.sync.selector import Selector, parse_selector

INSTANCE_LABEL = "app.kubernetes.io/instance"
# The app status is stored as a row of this pseudo-object, so its transitions are history too.
APP_GROUP = "helmguard.io"
APP_KIND = "Release"


def app_ref(key: ReleaseKey) -> ObjectRef:
    """The pseudo-object under which a release's own (app) status is stored."""
    return ObjectRef(APP_GROUP, APP_KIND, key.namespace, key.name)


@dataclass(frozen=True)
class ManagedRelease:
    """A release the sync keeps statuses for."""

    key: ReleaseKey
    selector: Selector
    inventory: frozenset[ObjectRef] = frozenset()

    @property
    def namespace(self) -> str:
        return self.key.namespace


def default_selector(name: str) -> str:
    return f"{INSTANCE_LABEL}={name}"


async def load_release(store: Store, record: ReleaseRecord) -> ManagedRelease:
    """The managed release for a stored release: its selector and its inventory."""
    selector = default_selector(record.key.name)
    for revision in reversed(await store.list_revisions(record.key)):
        if revision.plan and isinstance(revision.plan.get("selector"), str):
            selector = revision.plan["selector"]
            break
    rows = await store.list_resources(record.key)
    inventory = frozenset(r.ref for r in rows if r.ref.group != APP_GROUP)
    return ManagedRelease(record.key, parse_selector(selector), inventory)


async def load_releases(store: Store, cluster: str = "") -> list[ManagedRelease]:
    """Every release recorded in the store for `cluster`."""
    return [await load_release(store, r) for r in await store.list_releases(cluster)]


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
    if existing is None:
        await store.record_release(ReleaseRecord(key, chart, chart_version, status="Unknown"))
    now = datetime.now(UTC)
    await store.record_revision(
        RevisionRecord(
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
    )
    return await load_release(store, existing or ReleaseRecord(key, chart, chart_version))
