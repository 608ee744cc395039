"""A standby sync (a follower's, under --leader-elect) writes nothing; promoted, it writes
exactly what differs from the store: the changes made while nobody led, once each, and
no row of an object that did not change (its observed_at stays the old leader's)."""

from __future__ import annotations

from typing import Any

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, Store, app_ref
from helmguard.sync import Sync, register_release
from sync.scenario import INSTANCE, create, eventually, row


def config_map(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {INSTANCE: "hot"}}, "data": {"k": "v"}}


async def _changes(store: Store, key: ReleaseKey, ref: ObjectRef) -> list[tuple[str | None, str]]:
    return [(t.from_state, t.to_state) for t in reversed(await store.history(key, ref=ref))]


async def test_a_promoted_standby_writes_only_what_changed_while_nobody_led(
    kube: Kube, store: Store, namespace: str
) -> None:
    key = ReleaseKey(namespace, "hot")
    await register_release(store, key, f"{INSTANCE}=hot")
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    names = ("hot-a", "hot-b", "hot-c")
    refs = {name: ObjectRef("", "ConfigMap", namespace, name) for name in names}
    for name in names:
        await create(kube, cms, config_map(name))
    leader = Sync(kube, store, elected=True)
    await leader.start()
    standby = Sync(kube, store, elected=True)
    try:

        async def states() -> list[str | None]:
            rows = [await row(store, key, ref) for ref in refs.values()]
            return [r.state if r is not None else None for r in rows]

        await eventually(lambda: _is(states, ["Ready"] * 3), "all Ready", within=60)
        await leader.wait_idle()
        held = await store.sync_holder()
        await standby.start(standby=True)
        assert len(standby.index.releases) == 1 and standby.informers
        assert await store.sync_holder() == held  # the leader's lease, untouched
        # While the leader leads and the standby watches: only the leader writes.
        await kube.send_json("DELETE", f"{cms}/hot-a")
        await eventually(lambda: _is(states, ["Missing", "Ready", "Ready"]), "a Missing", 30)
        await leader.wait_idle()
        await leader.stop()  # the leader is gone; nobody writes
        kept = await row(store, key, refs["hot-c"])
        app_before = await _changes(store, key, app_ref(key))
        await create(kube, cms, config_map("hot-a"))
        await kube.send_json("DELETE", f"{cms}/hot-b")
        await eventually(
            lambda: _has(standby, {"hot-a"}, {"hot-b"}), "the standby to see both", within=30
        )
        assert await states() == ["Missing", "Ready", "Ready"]  # the standby wrote nothing

        await standby.promote()
        taken = await store.sync_holder()
        assert held is not None and taken is not None and taken.started_at > held.started_at
        await eventually(lambda: _is(states, ["Ready", "Missing", "Ready"]), "caught up", 30)
        await standby.wait_idle()
        assert await _changes(store, key, refs["hot-a"]) == [
            (None, "Ready"),
            ("Ready", "Missing"),
            ("Missing", "Ready"),
        ]
        assert await _changes(store, key, refs["hot-b"]) == [(None, "Ready"), ("Ready", "Missing")]
        assert await _changes(store, key, refs["hot-c"]) == [(None, "Ready")]
        # Not rewritten: hot-c's row is the old leader's, as it was.
        assert await row(store, key, refs["hot-c"]) == kept
        # The app was not Ready before and is not now: at most its message changed.
        app_after = await _changes(store, key, app_ref(key))
        assert app_after[: len(app_before)] == app_before
        assert len(app_after) - len(app_before) <= 1, app_after
    finally:
        await standby.stop()
        await leader.stop()


async def _is(probe: Any, expected: list[str]) -> bool:
    return bool(await probe() == expected)


async def _has(sync: Sync, present: set[str], absent: set[str]) -> bool:
    names = {ref.name for ref in sync.index.objects if ref.kind == "ConfigMap"}
    return present <= names and not absent & names
