"""What later stages read back: releases, revisions, current statuses, history, events, logs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from helmguard.manifest import ObjectRef
from helmguard.store import (
    AppRecord,
    EventRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    RevisionRecord,
    Store,
    StoreError,
    values_digest,
)
from store.conftest import RELEASE
from store.test_store_writer import T0

SA = ObjectRef("", "ServiceAccount", "shop", "vault-svc")
DEPLOY = ObjectRef("apps", "Deployment", "shop", "common-vault")
RS = ObjectRef("apps", "ReplicaSet", "shop", "common-vault-6c787c5cb5")
FORBIDDEN = (
    'pods "common-vault-6c787c5cb5-" is forbidden: error looking up service account '
    'shop/vault-svc: serviceaccount "vault-svc" not found'
)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_releases_and_revisions(store: Store) -> None:
    other = ReleaseKey("shop", "cache", cluster="eu-1")
    await store.record_release(ReleaseRecord(other, "redis", "19.0.1", status="Progressing"))
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.4", current_revision=2))
    digest = values_digest({"replicaCount": 3})
    for number, outcome in ((1, "superseded"), (2, "pending")):
        await store.record_revision(
            RevisionRecord(RELEASE, number, "web", f"1.2.{number + 2}", digest, T0, outcome=outcome)
        )
    await store.finish_revision(RELEASE, 2, "deployed", finished_at=T0 + timedelta(seconds=42))

    assert [r.key for r in await store.list_releases()] == [RELEASE, other]
    assert [r.key for r in await store.list_releases(cluster="eu-1")] == [other]
    release = await store.get_release(RELEASE)
    assert release is not None
    assert (release.chart_version, release.current_revision) == ("1.2.4", 2)
    assert await store.get_release(ReleaseKey("shop", "nope")) is None
    revisions = await store.list_revisions(RELEASE)
    assert [(r.number, r.outcome, r.values_digest) for r in revisions] == [
        (1, "superseded", digest),
        (2, "deployed", digest),
    ]
    assert revisions[1].finished_at == T0 + timedelta(seconds=42)
    with pytest.raises(StoreError, match="no recorded revision 9"):
        await store.finish_revision(RELEASE, 9, "failed")

    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.4", 2, "deployed"))
    release = await store.get_release(RELEASE)
    assert release is not None and (release.status, release.app) == ("deployed", None)


async def test_a_release_and_its_revision_are_one_write(store: Store) -> None:
    revision = RevisionRecord(RELEASE, 1, "web", "1.2.3", "", T0, plan={"selector": "a=b"})
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.3", 1), revision=revision)
    assert [r.plan for r in await store.list_revisions(RELEASE)] == [{"selector": "a=b"}]
    # A revision that cannot be written (of another, unrecorded release) leaves nothing.
    other = ReleaseKey("shop", "cache")
    stray = RevisionRecord(ReleaseKey("shop", "elsewhere"), 1, "redis", "1", "", T0)
    with pytest.raises(StoreError, match="not recorded"):
        await store.record_release(ReleaseRecord(other, "redis", "1", 1), revision=stray)
    assert await store.get_release(other) is None


async def test_blocked_then_healed_history_with_root_cause(store: Store) -> None:
    steps = [
        ("Progressing", "NewReplicaSetCreated", "waiting for 1 replica", None, 0),
        ("Blocked", "FailedCreate", FORBIDDEN, SA, 3),
        ("Progressing", "ReplicaSetUpdated", "1 of 1 updated, 0 available", None, 40),
        ("Ready", "NewReplicaSetAvailable", "1 of 1 available", None, 55),
    ]
    for state, reason, message, root, second in steps:
        status = ObservedStatus(
            DEPLOY, state, reason, message, at(second), at(second), root_cause=root
        )
        assert await store.upsert_resource_status(RELEASE, status)
    rs = ObservedStatus(RS, "Blocked", "FailedCreate", FORBIDDEN, at(2), at(2), root_cause=SA)
    await store.upsert_resource_status(RELEASE, rs)

    history = await store.history(RELEASE)
    assert [(t.ref.kind, t.from_state, t.to_state) for t in history] == [
        ("Deployment", "Progressing", "Ready"),
        ("Deployment", "Blocked", "Progressing"),
        ("Deployment", "Progressing", "Blocked"),
        ("ReplicaSet", None, "Blocked"),
        ("Deployment", None, "Progressing"),
    ]
    blocked = history[2]
    assert blocked.root_cause == SA and blocked.message == FORBIDDEN and blocked.at == at(3)
    assert [t.to_state for t in await store.history(RELEASE, ref=DEPLOY, limit=2)] == [
        "Ready",
        "Progressing",
    ]
    assert len(await store.history(RELEASE, since=at(3))) == 3

    resources = {r.ref: r for r in await store.list_resources(RELEASE)}
    assert resources[DEPLOY].state == "Ready" and resources[DEPLOY].root_cause is None
    assert resources[DEPLOY].since == at(55)
    assert resources[RS].root_cause == SA

    assert await store.remove_resource(RELEASE, RS) is True
    assert [r.ref for r in await store.list_resources(RELEASE)] == [DEPLOY]
    assert len(await store.history(RELEASE, ref=RS)) == 1  # history outlives the object
    # A sync still holding a release that was just uninstalled drops its rows: nothing left.
    assert await store.delete_release(RELEASE)
    assert await store.remove_resource(RELEASE, DEPLOY) is False


async def test_events_are_deduplicated_by_uid_and_count(store: Store) -> None:
    def event(count: int, seconds: int) -> EventRecord:
        return EventRecord(
            uid="5d0b3c1e-0f3a-4c55-8d7e-0c1b2a3f4e5d",
            ref=RS,
            type="Warning",
            reason="FailedCreate",
            message=f"Error creating: {FORBIDDEN}",
            count=count,
            first_seen=at(2),
            last_seen=at(seconds),
            source="replicaset-controller",
        )

    scaled = EventRecord(
        "a9e1c6f2-3b4d-4e8a-9c0d-1e2f3a4b5c6d",
        DEPLOY,
        "Normal",
        "ScalingReplicaSet",
        "Scaled up replica set common-vault-6c787c5cb5 from 0 to 1",
        1,
        at(1),
        at(1),
        "deployment-controller",
    )
    assert await store.add_events(RELEASE, [scaled, event(1, 2)]) == 2
    assert await store.add_events(RELEASE, [scaled, event(1, 2)]) == 0  # a re-list
    assert await store.add_events(RELEASE, [event(4, 30)]) == 1  # the API server repeated it
    assert await store.add_events(RELEASE, [event(3, 20)]) == 0  # an older copy

    events = await store.events(RELEASE)
    assert [(e.reason, e.count) for e in events] == [("FailedCreate", 4), ("ScalingReplicaSet", 1)]
    assert events[0].first_seen == at(2) and events[0].last_seen == at(30)
    assert [e.reason for e in await store.events(RELEASE, ref=DEPLOY)] == ["ScalingReplicaSet"]


async def test_operation_log_is_ordered_per_revision(store: Store) -> None:
    for revision, steps in ((1, ["render", "apply", "wait"]), (2, ["render", "apply"])):
        for step in steps:
            await store.add_operation_log(
                RELEASE, revision, step, f"{step} done", details={"wave": 1}, at=at(revision)
            )
    await store.add_operation_log(RELEASE, 2, "gate", "Blocked", level="error")
    log = await store.operation_log(RELEASE, 2)
    assert [(e.seq, e.step, e.level) for e in log] == [
        (1, "render", "info"),
        (2, "apply", "info"),
        (3, "gate", "error"),
    ]
    assert log[0].details == {"wave": 1}
    assert [(e.revision, e.seq) for e in await store.operation_log(RELEASE)] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
    ]


async def test_many_statuses_in_one_call_apply_in_order_as_one_by_one_would(store: Store) -> None:
    """The sync's batch: one object several times, a new one, a known one, an unknown release."""
    await store.upsert_resource_status(RELEASE, ObservedStatus(RS, "Ready", "", "", at(0), at(0)))
    gone = ReleaseKey("shop", "forgotten")
    batch = [
        (RELEASE, ObservedStatus(DEPLOY, "Progressing", "", "", at(1), at(1), "1")),
        (RELEASE, ObservedStatus(DEPLOY, "Progressing", "", "", at(1), at(2), "2")),
        (gone, ObservedStatus(DEPLOY, "Ready", "", "", at(2), at(2))),
        (RELEASE, ObservedStatus(DEPLOY, "Blocked", "FailedCreate", FORBIDDEN, at(3), at(3), "3")),
        (RELEASE, ObservedStatus(RS, "Ready", "", "", at(0), at(3), "7")),
        (RELEASE, ObservedStatus(RS, "Blocked", "FailedCreate", FORBIDDEN, at(4), at(4), "8")),
        (RELEASE, ObservedStatus(DEPLOY, "Ready", "Available", "", at(5), at(5), "4")),
        (RELEASE, ObservedStatus(DEPLOY, "Ready", "Available", "", at(5), at(6), "5")),
    ]
    assert await store.upsert_resource_statuses(batch) == [
        True,
        False,
        None,
        True,
        False,
        True,
        True,
        False,
    ]
    history = await store.history(RELEASE)
    assert [(t.ref.kind, t.from_state, t.to_state, t.at) for t in reversed(history)] == [
        ("ReplicaSet", None, "Ready", at(0)),
        ("Deployment", None, "Progressing", at(1)),
        ("Deployment", "Progressing", "Blocked", at(3)),
        ("ReplicaSet", "Ready", "Blocked", at(4)),
        ("Deployment", "Blocked", "Ready", at(5)),
    ]
    rows = {r.ref: r for r in await store.list_resources(RELEASE)}
    # Each row holds the last item's observation and the since of its last change.
    assert (rows[DEPLOY].state, rows[DEPLOY].resource_version) == ("Ready", "5")
    assert (rows[DEPLOY].since, rows[DEPLOY].observed_at) == (at(5), at(6))
    assert (rows[RS].state, rows[RS].message, rows[RS].since) == ("Blocked", FORBIDDEN, at(4))
    assert await store.upsert_resource_statuses([]) == []
    with pytest.raises(StoreError, match="not recorded"):
        await store.upsert_resource_status(gone, batch[2][1])


async def test_deleting_a_release_removes_everything_recorded_about_it(store: Store) -> None:
    status = ObservedStatus(DEPLOY, "Ready", "Available", "", T0, T0)
    await store.upsert_resource_status(RELEASE, status)
    await store.add_operation_log(RELEASE, 1, "apply", "ok")
    assert await store.delete_release(RELEASE) is True
    assert await store.delete_release(RELEASE) is False
    assert await store.list_resources(RELEASE) == []
    assert await store.history(RELEASE) == []
    assert await store.operation_log(RELEASE) == []
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.3"))
    assert await store.history(RELEASE) == []  # a new release of that name starts clean


async def test_a_settled_revision_and_the_release_status_are_one_write(store: Store) -> None:
    """A deploy's end: no reader sees the revision settled while the release still says the
    operation runs (serve's helm discovery forgot a removed --atomic install in that gap)."""
    running = RevisionRecord(RELEASE, 1, "web", "1.2.3", "", T0, outcome="running")
    await store.record_release(
        ReleaseRecord(RELEASE, "web", "1.2.3", 1, "deploying"), revision=running
    )
    settled = ReleaseRecord(RELEASE, "web", "1.2.3", 1, "uninstalled")
    await store.finish_revision(RELEASE, 1, "failed", inventory=[], release=settled)
    release = await store.get_release(RELEASE)
    assert release is not None and release.status == "uninstalled"
    assert [r.outcome for r in await store.list_revisions(RELEASE)] == ["failed"]
    # A revision that is not recorded writes nothing, the release's row included.
    with pytest.raises(StoreError, match="no recorded revision 2"):
        await store.finish_revision(RELEASE, 2, "deployed", release=replace(settled, status="x"))
    release = await store.get_release(RELEASE)
    assert release is not None and release.status == "uninstalled"


async def test_a_forget_decided_on_a_stale_read_does_not_apply(store: Store) -> None:
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.3", 1, "deployed"))
    read = await store.get_release(RELEASE)
    assert read is not None and read.updated_at is not None
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.3", 2, "deploying"))
    assert await store.delete_release(RELEASE, unchanged_since=read.updated_at) is False
    assert await store.get_release(RELEASE) is not None
    fresh = await store.get_release(RELEASE)
    assert fresh is not None
    assert await store.delete_release(RELEASE, unchanged_since=fresh.updated_at) is True
    assert await store.get_release(RELEASE) is None


async def test_release_marks_change_with_revisions_not_with_status(store: Store) -> None:
    """What a sync polls to notice deploys by other processes (its own status writes aside)."""
    edge = ReleaseKey("shop", "web", cluster="edge")
    await store.record_release(ReleaseRecord(edge, "web", "1.0.0"))
    first = await store.release_marks()
    assert list(first) == [RELEASE]
    assert list(await store.release_marks("edge")) == [edge]
    await store.upsert_statuses(apps=[(RELEASE, AppRecord("Ready", "Ready", "", at(0), at(0)))])
    assert await store.release_marks() == first
    revision = RevisionRecord(RELEASE, 1, "web", "1.2.3", values_digest({}), at(0), None, "running")
    await store.record_revision(revision)
    running = await store.release_marks()
    assert running != first
    await store.finish_revision(RELEASE, 1, "deployed", finished_at=at(5))
    finished = await store.release_marks()
    assert finished != running
    await store.upsert_statuses(apps=[(RELEASE, AppRecord("Blocked", "X", "", at(6), at(6)))])
    assert await store.release_marks() == finished
    # The last operation's status is part of it: a deploy that ends is no longer deploying.
    await store.record_release(ReleaseRecord(RELEASE, "web", "1.2.3", 1, "failed"))
    assert await store.release_marks() != finished
    await store.delete_release(RELEASE)
    assert await store.release_marks() == {}


async def test_unfinished_releases_are_those_with_a_pending_or_running_revision(
    store: Store,
) -> None:
    """What `recover` settles after a crash, in one query (not one per release)."""
    edge = ReleaseKey("shop", "web", cluster="edge")
    idle = ReleaseKey("shop", "idle")
    for key in (edge, idle):
        await store.record_release(ReleaseRecord(key, "web", "1.0.0"))
        await store.record_revision(
            RevisionRecord(key, 1, "web", "1.0.0", values_digest({}), at(0), None, "running")
        )
    await store.finish_revision(idle, 1, "deployed", finished_at=at(1))
    assert await store.unfinished_releases() == []
    await store.record_revision(
        RevisionRecord(RELEASE, 1, "web", "1.2.3", values_digest({}), at(0), None, "pending")
    )
    assert await store.unfinished_releases() == [RELEASE]
    assert await store.unfinished_releases("edge") == [edge]
    await store.finish_revision(RELEASE, 1, "failed", finished_at=at(2))
    assert await store.unfinished_releases() == []


async def test_the_streams_one_read_is_the_three_reads_after_the_same_ids(store: Store) -> None:
    """`feed_after` (the live stream's poll, one connection) gives what `transitions_after`,
    `steps_after` and `events_after` give from the same ids, and nothing at or below them."""
    for seconds, state in ((1, "Progressing"), (2, "Ready"), (3, "Failed")):
        await store.upsert_statuses(
            [(RELEASE, ObservedStatus(DEPLOY, state, "R", "m", at(seconds), at(seconds)))]
        )
    for step in ("render", "apply"):
        await store.add_operation_log(RELEASE, 1, step, f"{step} done", at=at(4))
    for n in range(2):
        event = EventRecord(f"uid-{n}", DEPLOY, "Normal", "Scaled", "m", 1, at(5), at(5), "c")
        await store.add_events(RELEASE, [event])
    transitions = await store.transitions_after(0)
    steps = await store.steps_after(0)
    events = await store.events_after(0)
    assert (len(transitions), len(steps), len(events)) == (3, 2, 2)
    assert await store.feed_after(0, 0, 0) == (transitions, steps, events)
    after = (transitions[0].id, steps[0].id, events[-1].id)
    assert await store.feed_after(*after) == (transitions[1:], steps[1:], [])
    assert await store.feed_after(0, 0, 0, limit=1) == (transitions[:1], steps[:1], events[:1])
