"""Leader election on a Lease: the decision alone, then candidates on the sandbox's API server."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from helmguard.kube.client import Kube
from helmguard.kube.errors import ApiError
from helmguard.sync.leader import (
    ElectionConfigError,
    ElectionTimings,
    LeaderElector,
    LeaderRecord,
    micro_time,
    next_record,
)

WALL = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
EARLIER = datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC)
FAST = ElectionTimings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.25)


def held(holder: str, transitions: int = 3) -> LeaderRecord:
    return LeaderRecord(holder, 15, EARLIER, EARLIER, transitions)


def test_no_lease_is_created_with_zero_transitions() -> None:
    assert next_record("me", None, 0.0, 100.0, WALL, 15.0) == LeaderRecord("me", 15, WALL, WALL, 0)


def test_another_holder_is_respected_until_its_record_is_stale_for_a_lease_duration() -> None:
    # Observed at t=100 on our clock: whatever its renewTime says, it lasts until 115.
    assert next_record("me", held("other"), 100.0, 114.9, WALL, 15.0) is None
    taken = next_record("me", held("other"), 100.0, 115.0, WALL, 15.0)
    assert taken == LeaderRecord("me", 15, WALL, WALL, 4)


def test_a_released_lease_is_free_at_once() -> None:
    released = LeaderRecord("", 1, None, None, 7)
    assert next_record("me", released, 100.0, 100.0, WALL, 15.0) == LeaderRecord(
        "me", 15, WALL, WALL, 8
    )


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    renewed = next_record("me", held("me"), 100.0, 100.5, WALL, 15.0)
    assert renewed == LeaderRecord("me", 15, EARLIER, WALL, 3)


def test_record_round_trips_through_a_lease_spec() -> None:
    record = LeaderRecord("pod-a", 15, WALL, WALL, 2)
    assert record.spec()["renewTime"] == "2026-01-02T03:04:05.678901Z"
    assert LeaderRecord.from_lease({"spec": record.spec()}) == record
    assert micro_time(WALL) == "2026-01-02T03:04:05.678901Z"


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "words"),
    [
        (10, 10, 2, "greater than the renew deadline"),
        (15, 2, 2, "1.2 x the retry period"),
        (15, 10, 0, "must be > 0"),
    ],
)
def test_timings_client_go_refuses_are_refused(
    lease: float, renew: float, retry: float, words: str
) -> None:
    with pytest.raises(ElectionConfigError, match=words):
        ElectionTimings(lease, renew, retry)


def test_default_timings_are_client_gos() -> None:
    assert ElectionTimings() == ElectionTimings(15.0, 10.0, 2.0)


# ---- on the sandbox ------------------------------------------------------------------------


def _lease(admin_http: httpx.Client, namespace: str, name: str) -> dict[str, Any]:
    response = admin_http.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
    response.raise_for_status()
    return dict(response.json())


def _elector(kube: Kube, namespace: str, identity: str) -> LeaderElector:
    return LeaderElector(kube, namespace, "election", identity, timings=FAST)


async def test_one_leader_and_release_hands_over_at_once(
    kube: Kube, namespace: str, admin_http: httpx.Client
) -> None:
    a, b = _elector(kube, namespace, "a"), _elector(kube, namespace, "b")
    leading: list[str] = []
    changed = asyncio.Event()

    def lead(name: str) -> Any:
        async def work() -> None:
            leading.append(name)
            changed.set()
            await asyncio.Event().wait()

        return work

    run_a = asyncio.create_task(a.run(lead("a")))
    await changed.wait()
    changed.clear()
    run_b = asyncio.create_task(b.run(lead("b")))
    await asyncio.sleep(FAST.lease_duration * 1.5)  # a renews: b never gets in
    assert leading == ["a"]
    spec = _lease(admin_http, namespace, "election")["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 2
    run_a.cancel()
    await asyncio.gather(run_a, return_exceptions=True)
    released = time.monotonic()
    await changed.wait()
    assert leading == ["a", "b"]
    # Released: b takes it on its next attempt, not a lease duration later.
    assert time.monotonic() - released < FAST.retry_period * (1 + 1.2) + 0.5
    spec = _lease(admin_http, namespace, "election")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    run_b.cancel()
    await asyncio.gather(run_b, return_exceptions=True)
    assert not _lease(admin_http, namespace, "election")["spec"].get("holderIdentity")


async def test_a_silent_holder_is_taken_over_after_the_lease_duration(
    kube: Kube, namespace: str
) -> None:
    dead, b = _elector(kube, namespace, "dead"), _elector(kube, namespace, "b")
    assert await dead.try_acquire_or_renew()  # then never renews: a SIGKILLed leader
    start = time.monotonic()
    await b.acquire()
    waited = time.monotonic() - start
    assert FAST.lease_duration <= waited < FAST.lease_duration + FAST.retry_period * 2.2 + 0.5
    assert b.is_leader


async def test_a_candidate_counts_from_the_last_renewal_as_written_and_tries_when_it_expires(
    kube: Kube, namespace: str
) -> None:
    # A long retry period (attempts 2-4.4 s apart): polling alone would see the last
    # renewal up to 4.4 s late and try up to 4.4 s after it expired; the candidate's
    # watch sees it when written, and it tries at the expiry.
    timings = ElectionTimings(lease_duration=4.0, renew_deadline=3.0, retry_period=2.0)
    dead = LeaderElector(kube, namespace, "election", "dead", timings=timings)
    b = LeaderElector(kube, namespace, "election", "b", timings=timings)
    assert await dead.try_acquire_or_renew()
    acquiring = asyncio.create_task(b.acquire())
    for pause in (1.0, 1.5):  # two renewals between b's attempts, then silence
        await asyncio.sleep(pause)
        before = time.monotonic()
        assert await dead.try_acquire_or_renew()
        after = time.monotonic()
    async with asyncio.timeout(15):
        await acquiring
    taken = time.monotonic()
    assert b.is_leader
    # Never before the last renewal is a lease duration old; at most a second after.
    assert taken - before >= timings.lease_duration
    assert taken - after < timings.lease_duration + 1.0, taken - after


async def test_racing_candidates_one_wins_by_resource_version(kube: Kube, namespace: str) -> None:
    first = _elector(kube, namespace, "first")
    assert await first.try_acquire_or_renew()
    await first.release()
    candidates = [_elector(kube, namespace, f"c{i}") for i in range(5)]
    won = await asyncio.gather(*(c.try_acquire_or_renew() for c in candidates))
    assert sum(won) == 1
    winner = candidates[won.index(True)]
    assert all(c.leader in ("", winner.identity) for c in candidates)


async def test_a_leader_whose_lease_is_taken_stops_leading(
    kube: Kube, namespace: str, admin_http: httpx.Client
) -> None:
    became = asyncio.Event()
    a = LeaderElector(
        kube, namespace, "election", "a", timings=FAST, on_new_leader=lambda _: became.set()
    )
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    run = asyncio.create_task(a.run(work))
    await became.wait()
    assert a.is_leader
    # The intruder writes as any client does: read, change, write; a renewal of the leader
    # in between (409 Conflict) makes it read again.
    for _ in range(20):
        lease = _lease(admin_http, namespace, "election")
        lease["spec"]["holderIdentity"] = "intruder"
        lease["spec"]["renewTime"] = micro_time(datetime.now(UTC))
        try:
            await kube.send_json("PUT", f"{a.path}/election", lease)
            break
        except ApiError as exc:
            if exc.code != 409:
                raise
    else:
        pytest.fail("the intruder's write conflicted with a renewal 20 times")
    async with asyncio.timeout(FAST.renew_deadline + 2):
        await run
    assert stopped.is_set()
    assert a.leader == "intruder"
    # Not ours any more: the intruder's Lease is left as it is.
    assert _lease(admin_http, namespace, "election")["spec"]["holderIdentity"] == "intruder"
