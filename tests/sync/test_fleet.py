"""`follow_registry` over a real SQLite registry: clusters registered are started once,
removed ones stopped (their runner cancelled), one that cannot be started is not retried
until its registration changes, a re-registration elsewhere restarts it; `Fleet.wait`
ends with the error of a runner that ended by itself. The runners are plain objects that
wait until cancelled (the sandbox journey in test_follow_registry.py runs real syncs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from helmguard.store import ClusterRecord, Store
from helmguard.sync.fleet import Fleet, follow_registry
from helmguard.sync.supervisor import Readiness


class Waiting:
    """Runs until cancelled; says whether it was."""

    def __init__(self, ready: bool = True) -> None:
        self.running = asyncio.Event()
        self.cancelled = False
        self.ready = ready

    def readiness(self) -> Readiness:
        return Readiness(self.ready, "" if self.ready else "not ready")

    async def run(self) -> None:
        self.running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def _until(probe: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not probe():  # noqa: ASYNC110 - the registry is read by polling, as serve does
            await asyncio.sleep(0.01)


async def test_the_fleet_follows_the_registry(store: Store) -> None:
    fleet = Fleet()
    runners: dict[str, list[Waiting]] = {}
    tried: list[str] = []
    stopped: list[str] = []

    def start(record: ClusterRecord) -> bool:
        tried.append(record.name)
        if record.kubeconfig == "/unreadable":
            return False
        runner = Waiting(ready=record.name != "slow")
        runners.setdefault(record.name, []).append(runner)
        fleet.start(record.name, runner)
        return True

    followed: dict[str, ClusterRecord] = {}
    follow = asyncio.create_task(
        follow_registry(
            fleet, store.list_clusters, start, stopped.append, followed=followed, interval=0.02
        )
    )
    try:
        await store.add_cluster(ClusterRecord("a", "/a", "ctx"))
        await store.add_cluster(ClusterRecord("c", "/unreadable", "ctx"))
        await _until(lambda: "a" in fleet and "c" in tried)
        await asyncio.sleep(0.2)  # ten more reads: neither is started again
        assert tried.count("a") == 1 and tried.count("c") == 1
        assert fleet.keys() == ["a"] and list(followed) == ["a"]
        # c registered again, readable now: started.
        await store.remove_cluster("c")
        await store.add_cluster(ClusterRecord("c", "/c", "ctx"))
        await _until(lambda: "c" in fleet)
        # a registered elsewhere between two reads: restarted; slow makes readiness name it.
        await store.remove_cluster("a")
        await store.add_cluster(ClusterRecord("a", "/a", "other"))
        await store.add_cluster(ClusterRecord("slow", "/s", "ctx"))
        await _until(lambda: len(runners["a"]) == 2 and "slow" in fleet)
        assert runners["a"][0].cancelled and stopped == ["a"]
        assert fleet.readiness() == Readiness(False, "not ready")
        await store.remove_cluster("slow")
        # (fleet.stop forgets it before its runner has stopped; stopped() is told after.)
        await _until(lambda: "slow" not in fleet and len(stopped) == 2)
        assert fleet.readiness() == Readiness(True)
        assert runners["slow"][0].cancelled and stopped == ["a", "slow"]
        assert fleet.keys() == ["a", "c"] and sorted(followed) == ["a", "c"]
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await fleet.close()
    assert all(r.cancelled for rs in runners.values() for r in rs)


class Ending(Waiting):
    async def run(self) -> None:
        raise RuntimeError("another serve syncs this cluster")


async def test_wait_ends_with_the_error_of_a_runner_that_ended() -> None:
    fleet = Fleet()
    fleet.start("a", Waiting())
    await fleet.stop("a")  # stopped on purpose: not an end
    fleet.start("b", Ending())
    with pytest.raises(RuntimeError, match="another serve syncs this cluster"):
        await asyncio.wait_for(fleet.wait(), 5)
    await fleet.close()
