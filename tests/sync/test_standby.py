"""A standby sync (a follower's, under --leader-elect) writes nothing; promoted, it writes
exactly what differs from the store: the changes made while nobody led, once each, and
no row of an object that did not change (its observed_at stays the old leader's)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, Store, SyncHolder, app_ref
from helmguard.sync import Sync, register_release
from sync.scenario import INSTANCE, create, eventually, row


def config_map(name: str, release: str = "hot") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {INSTANCE: release}}, "data": {"k": "v"}}


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
        # The leader's lease, untouched (its heartbeat goes on meanwhile).
        assert _holding(await store.sync_holder()) == _holding(held)
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


async def test_a_large_first_pass_commits_release_by_release_each_change_once(
    kube: Kube, store: Store, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first pass after a takeover, larger than `write_batch`, is committed in several
    transactions of whole releases: every change made while nobody led is stored once, and
    nothing else is written again."""
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    releases = [f"r{i}" for i in range(4)]
    keys = {name: ReleaseKey(namespace, name) for name in releases}
    for name in releases:
        await register_release(store, keys[name], f"{INSTANCE}={name}")
        for part in ("a", "b"):
            await create(kube, cms, config_map(f"{name}-{part}", name))
    refs = {
        (name, part): ObjectRef("", "ConfigMap", namespace, f"{name}-{part}")
        for name in releases
        for part in ("a", "b")
    }

    async def states() -> dict[tuple[str, str], str | None]:
        rows = {k: await row(store, keys[k[0]], ref) for k, ref in refs.items()}
        return {k: r.state if r is not None else None for k, r in rows.items()}

    leader = Sync(kube, store, elected=True)
    await leader.start()
    standby = Sync(kube, store, elected=True, write_batch=2)
    try:
        ready = dict.fromkeys(refs, "Ready")
        await eventually(lambda: _equal(states, ready), "all Ready", within=60)
        await leader.wait_idle()
        await standby.start(standby=True)
        await leader.stop()  # nobody writes from here
        kept = {k: await row(store, keys[k[0]], ref) for k, ref in refs.items()}
        for name in releases:  # every release changes while nobody leads
            await kube.send_json("DELETE", f"{cms}/{name}-a")
        await eventually(
            lambda: _has(standby, {f"{n}-b" for n in releases}, {f"{n}-a" for n in releases}),
            "the standby to see every delete",
            within=30,
        )
        commits = standby.stats.commits
        with caplog.at_level("WARNING", logger="helmguard.sync.engine"):
            await standby.promote()
            expected = {k: "Missing" if k[1] == "a" else "Ready" for k in refs}
            await eventually(lambda: _equal(states, expected), "caught up", within=30)
            await standby.wait_idle()
        # 4 releases of 2 objects and an app each: more than one transaction of whole releases.
        assert standby.stats.commits - commits >= 2
        assert any("taking over: store lease" in r.getMessage() for r in caplog.records)
        for (name, part), ref in refs.items():
            changes = await _changes(store, keys[name], ref)
            if part == "a":
                assert changes == [(None, "Ready"), ("Ready", "Missing")], (name, changes)
            else:
                assert changes == [(None, "Ready")], (name, changes)
                assert await row(store, keys[name], ref) == kept[(name, part)]  # not rewritten
    finally:
        await standby.stop()
        await leader.stop()


def _holding(holder: SyncHolder | None) -> SyncHolder | None:
    return None if holder is None else replace(holder, heartbeat_at=holder.started_at)


async def _equal(probe: Any, expected: object) -> bool:
    return bool(await probe() == expected)


async def _is(probe: Any, expected: list[str]) -> bool:
    return bool(await probe() == expected)


async def _has(sync: Sync, present: set[str], absent: set[str]) -> bool:
    names = {ref.name for ref in sync.index.objects if ref.kind == "ConfigMap"}
    return present <= names and not absent & names
