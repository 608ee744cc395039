"""The sync loads a cluster's releases in three queries: the same releases as one by one."""

from __future__ import annotations

from datetime import UTC, datetime

from helmguard.manifest import ObjectRef
from helmguard.store import (
    InventoryItem,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    RevisionRecord,
    Store,
)
from helmguard.sync.releases import load_release, load_releases, register_release

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CM = ObjectRef("", "ConfigMap", "shop", "settings")
DEPLOY = ObjectRef("apps", "Deployment", "shop", "web")
POD = ObjectRef("", "Pod", "shop", "web-6c787c5cb5-x1")


async def test_a_cluster_loaded_at_once_equals_each_release_loaded_alone(store: Store) -> None:
    deployed = ReleaseKey("shop", "web")
    await store.record_release(ReleaseRecord(deployed, "web", "1.0.0", 2))
    for number, inventory in ((1, (CM,)), (2, (CM, DEPLOY))):
        await store.record_revision(
            RevisionRecord(
                deployed, number, "web", "1.0.0", "", T0,
                inventory=tuple(InventoryItem(r, f"uid-{r.name}") for r in inventory),
            )
        )  # fmt: skip
    # The newest revision without an inventory (an interrupted one) leaves the older one's.
    await store.record_revision(RevisionRecord(deployed, 3, "web", "1.0.1", "", T0))
    await register_release(store, ReleaseKey("shop", "managed"), "app=managed")
    # Recorded before inventories existed: its status rows are its members.
    old = ReleaseKey("shop", "old")
    await store.record_release(ReleaseRecord(old, "old", "0.1.0", 1))
    await store.record_revision(RevisionRecord(old, 1, "old", "0.1.0", "", T0))
    await store.upsert_resource_status(old, ObservedStatus(CM, "Ready", "Exists", "", T0, T0))
    await store.upsert_resource_status(
        old, ObservedStatus(POD, "Ready", "Running", "", T0, T0, owner=DEPLOY)
    )
    await store.record_release(ReleaseRecord(ReleaseKey("shop", "web", "eu-1"), "web", "1", 1))

    alone = [await load_release(store, r) for r in await store.list_releases("")]
    at_once = await load_releases(store)
    assert at_once == alone
    by_name = {r.key.name: r for r in at_once}
    assert set(by_name) == {"web", "managed", "old"}
    assert by_name["web"].inventory == {CM, DEPLOY}
    assert by_name["managed"].selector is not None and not by_name["managed"].inventory
    assert by_name["old"].inventory == {CM}  # a child row is no member
    children = await store.cluster_resources("", children=True)
    assert children == {old: await store.list_resources(old, children=True)}
    assert [r.key.cluster for r in await load_releases(store, "eu-1")] == ["eu-1"]
