"""Retention: history older than a cutoff goes, a per-object cap holds, current status stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helmguard.manifest import ObjectRef
from helmguard.store import EventRecord, ObservedStatus, ReleaseRecord, Retention, open_store
from store.conftest import RELEASE

NOW = datetime.now(UTC).replace(microsecond=0)
POD = ObjectRef("", "Pod", "shop", "web-0")
JOB = ObjectRef("batch", "Job", "shop", "migrate")


async def test_prune_by_age_and_by_count_per_object(db_url: str) -> None:
    retention = Retention(max_age_days=7, max_transitions_per_object=5)
    async with await open_store(db_url, retention=retention) as store:
        await store.record_release(ReleaseRecord(RELEASE, "web", "1"))
        # 20 flips of one Pod, one a day for 20 days; the Job changes twice, long ago.
        for day in range(20, 0, -1):
            when = NOW - timedelta(days=day)
            state = "Ready" if day % 2 else "Failed"
            status = ObservedStatus(POD, state, f"day{day}", "", when, when)
            await store.upsert_resource_status(RELEASE, status)
        for state, day in (("Progressing", 30), ("Ready", 29)):
            when = NOW - timedelta(days=day)
            await store.upsert_resource_status(
                RELEASE, ObservedStatus(JOB, state, state, "", when, when)
            )
        await store.add_events(
            RELEASE,
            [
                EventRecord(
                    "old",
                    POD,
                    "Warning",
                    "BackOff",
                    "",
                    1,
                    NOW - timedelta(days=9),
                    NOW - timedelta(days=8),
                ),
                EventRecord("new", POD, "Warning", "BackOff", "", 1, NOW, NOW),
            ],
        )
        await store.add_operation_log(RELEASE, 1, "apply", "old", at=NOW - timedelta(days=10))
        await store.add_operation_log(RELEASE, 2, "apply", "new", at=NOW)

        result = await store.prune_history()

        pod_history = await store.history(RELEASE, ref=POD, limit=100)
        # 7 days keep day1..day6 (6 rows); the cap of 5 then drops the oldest of those.
        assert [t.reason for t in pod_history] == [f"day{d}" for d in range(1, 6)]
        assert await store.history(RELEASE, ref=JOB) == []
        assert result.transitions == 20 + 2 - 5
        assert (result.events, result.operation_log) == (1, 1)
        assert [e.uid for e in await store.events(RELEASE)] == ["new"]
        assert [e.message for e in await store.operation_log(RELEASE)] == ["new"]
        # Current statuses are never pruned.
        current = {r.ref: r.reason for r in await store.list_resources(RELEASE)}
        assert current == {POD: "day1", JOB: "Ready"}


async def test_explicit_cutoff_overrides_the_settings(db_url: str) -> None:
    async with await open_store(db_url, retention=Retention(None, None)) as store:
        await store.record_release(ReleaseRecord(RELEASE, "web", "1"))
        for hours in (5, 3, 1):
            when = NOW - timedelta(hours=hours)
            await store.upsert_resource_status(
                RELEASE, ObservedStatus(POD, f"S{hours}", "", "", when, when)
            )
        assert (await store.prune_history()).transitions == 0  # nothing configured
        result = await store.prune_history(NOW - timedelta(hours=2))
        assert result.transitions == 2
        assert [t.to_state for t in await store.history(RELEASE)] == ["S1"]
