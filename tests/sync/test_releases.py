"""Which objects the sync evaluates for a stored release: its inventory, or a `manage` selector."""

from __future__ import annotations

from datetime import UTC, datetime

from helmguard.manifest import ObjectRef
from helmguard.store import InventoryItem, ReleaseKey, ReleaseRecord, RevisionRecord, Store
from helmguard.sync.releases import load_release, register_release

RELEASE = ReleaseKey("shop", "web")
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DEPLOY = ObjectRef("apps", "Deployment", "shop", "web")
CONFIG = ObjectRef("", "ConfigMap", "shop", "web-settings")
OLD = ObjectRef("", "Service", "shop", "web-old")


async def _revision(store: Store, number: int, inventory: tuple[InventoryItem, ...]) -> None:
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.0.0", number))
    await store.record_revision(
        RevisionRecord(RELEASE, number, "web", "1.0.0", "sha256:x", T0, inventory=inventory)
    )


async def test_the_latest_inventory_is_the_release_and_no_selector_is_guessed(
    store: Store,
) -> None:
    await _revision(store, 1, (InventoryItem(DEPLOY, "u1"), InventoryItem(OLD, "u2")))
    await _revision(store, 2, (InventoryItem(DEPLOY), InventoryItem(CONFIG)))
    await store.finish_revision(
        RELEASE, 2, "deployed", inventory=(InventoryItem(DEPLOY, "u1"), InventoryItem(CONFIG, "u3"))
    )
    revisions = await store.list_revisions(RELEASE)
    assert revisions[-1].inventory == (InventoryItem(CONFIG, "u3"), InventoryItem(DEPLOY, "u1"))
    record = await store.get_release(RELEASE)
    assert record is not None
    managed = await load_release(store, record)
    assert managed.inventory == {DEPLOY, CONFIG}
    # A release helmguard deployed is its inventory: labels never add or hide objects.
    assert managed.selector is None


async def test_a_release_with_nothing_recorded_has_no_members(store: Store) -> None:
    await _revision(store, 1, ())
    record = await store.get_release(RELEASE)
    assert record is not None
    managed = await load_release(store, record)
    assert (managed.inventory, managed.selector) == (frozenset(), None)


async def test_a_managed_release_keeps_its_selector(store: Store) -> None:
    key = ReleaseKey("shop", "external")
    await store.record_release(ReleaseRecord(key, "external", ""))
    managed = await register_release(store, key, "app.kubernetes.io/instance=external")
    assert str(managed.selector) == "app.kubernetes.io/instance=external"
    assert managed.inventory == frozenset()


def test_an_absent_member_is_progressing_only_while_its_deploy_runs() -> None:
    from helmguard.status import State
    from helmguard.sync.releases import ManagedRelease, absent

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ours = ObjectRef("", "ConfigMap", "shop", "settings")
    theirs = ObjectRef("", "ServiceAccount", "shop", "runner")  # not the release's own
    key = ReleaseKey("shop", "web")
    running = ManagedRelease(key, inventory=frozenset({ours}), revision=3, deploying=True)
    done = ManagedRelease(key, inventory=frozenset({ours}), revision=3)
    pending = absent(running, ours, now)
    assert (pending.state, pending.reason) == (State.PROGRESSING, "NotAppliedYet")
    assert pending.message == f"{ours} is not created yet: revision 3 is being deployed"
    assert absent(running, theirs, now).state is State.MISSING
    assert absent(done, ours, now).state is State.MISSING
    assert absent(None, ours, now).state is State.MISSING
