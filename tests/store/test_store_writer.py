"""The single writer: concurrent writes land, share transactions, keep per-object order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from helmguard.manifest import ObjectRef
from helmguard.store import (
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    Store,
    StoreError,
    TransitionRecord,
    open_store,
)
from store.conftest import RELEASE

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
STATES = ("Progressing", "Blocked", "Progressing", "Ready")


def pod(i: int) -> ObjectRef:
    return ObjectRef("", "Pod", "shop", f"web-7d4b9c-{i:03d}")


async def _object_story(store: Store, ref: ObjectRef, steps: int) -> list[bool]:
    changed = []
    for step in range(steps):
        at = T0 + timedelta(seconds=step)
        state = STATES[step % len(STATES)]
        status = ObservedStatus(ref, state, f"Step{step}", f"step {step}", at, at, str(step))
        changed.append(await store.upsert_resource_status(RELEASE, status))
    return changed


async def test_concurrent_writers_share_transactions_and_keep_per_object_order(
    db_url: str,
) -> None:
    objects, steps = 40, 25
    async with await open_store(db_url) as store:
        await store.record_release(ReleaseRecord(RELEASE, "web", "1.0.0"))
        writer = store._writer
        assert writer is not None
        before = writer.batches_committed
        results = await asyncio.gather(
            *(_object_story(store, pod(i), steps) for i in range(objects))
        )
        batches = writer.batches_committed - before

        assert all(all(changed) for changed in results)
        # 1,000 awaited writes from 40 tasks: group commit must put many in one transaction.
        assert batches < objects * steps / 4, batches
        for i in (0, 17, objects - 1):
            story = list(reversed(await store.history(RELEASE, ref=pod(i), limit=1000)))
            assert [t.reason for t in story] == [f"Step{s}" for s in range(steps)]
            assert [t.from_state for t in story] == [None, *(t.to_state for t in story[:-1])]
        resources = await store.list_resources(RELEASE)
        assert len(resources) == objects
        assert {r.reason for r in resources} == {f"Step{steps - 1}"}
        assert {r.resource_version for r in resources} == {str(steps - 1)}


async def test_unchanged_status_is_not_a_transition_but_is_observed(store: Store) -> None:
    ref = ObjectRef("apps", "Deployment", "shop", "web")
    first = ObservedStatus(ref, "Progressing", "NewReplicaSetCreated", "1 of 3", T0, T0, "100")
    later = T0 + timedelta(minutes=1)
    same = ObservedStatus(ref, "Progressing", "NewReplicaSetCreated", "1 of 3", later, later, "105")
    assert await store.upsert_resource_status(RELEASE, first) is True
    assert await store.upsert_resource_status(RELEASE, same) is False
    [row] = await store.list_resources(RELEASE)
    # Observation time and resourceVersion move; `since` stays at the start of the state.
    assert (row.since, row.observed_at, row.resource_version) == (T0, later, "105")
    assert len(await store.history(RELEASE, ref=ref)) == 1


async def test_posted_writes_are_durable_after_flush(db_url: str) -> None:
    async with await open_store(db_url) as store:
        await store.record_release(ReleaseRecord(RELEASE, "web", "1.0.0"))
        for i in range(300):
            await store.add_operation_log(RELEASE, 1, "apply", f"object {i}", wait=False)
        await store.flush()
        # A second, independent reader sees them: they are committed, not just queued.
        async with await open_store(db_url, read_only=True) as reader:
            entries = await reader.operation_log(RELEASE, 1)
    assert [e.seq for e in entries] == list(range(1, 301))
    assert [e.message for e in entries[:3]] == ["object 0", "object 1", "object 2"]


async def test_a_failing_write_fails_only_its_caller(store: Store) -> None:
    unknown = ReleaseKey("shop", "never-recorded")
    ref = ObjectRef("", "ConfigMap", "shop", "settings")
    ok = ObservedStatus(ref, "Ready", "Exists", "", T0, T0)
    results = await asyncio.gather(
        store.upsert_resource_status(RELEASE, ok),
        store.upsert_resource_status(unknown, ok),
        store.add_transition(TransitionRecord(RELEASE, ref, "Ready", "Missing", "Deleted", "", T0)),
        return_exceptions=True,
    )
    assert results[0] is True and results[2] is None
    assert isinstance(results[1], StoreError)
    assert "release shop/never-recorded is not recorded" in str(results[1])
    assert [t.to_state for t in await store.history(RELEASE, ref=ref)] == ["Missing", "Ready"]


async def test_a_failed_posted_write_is_reported_by_flush(store: Store) -> None:
    await store.add_operation_log(ReleaseKey("x", "missing"), 1, "apply", "lost", wait=False)
    await store.add_operation_log(RELEASE, 1, "apply", "kept", wait=False)
    with pytest.raises(StoreError, match="release x/missing is not recorded"):
        await store.flush()
    await store.flush()  # reported once
    assert [e.message for e in await store.operation_log(RELEASE)] == ["kept"]


async def test_writes_after_close_are_refused(db_url: str) -> None:
    store = await open_store(db_url)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.record_release(ReleaseRecord(RELEASE, "web", "1"))


async def test_read_only_store_refuses_writes(db_url: str) -> None:
    async with await open_store(db_url):
        pass
    async with await open_store(db_url, read_only=True) as reader:
        with pytest.raises(StoreError, match="read-only"):
            await reader.record_release(ReleaseRecord(RELEASE, "web", "1"))
