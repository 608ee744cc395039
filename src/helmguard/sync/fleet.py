"""The clusters one `serve` syncs, started and stopped while it runs.

A `Fleet` holds one runner (a `ClusterSupervisor`, or an `ElectedSupervisor` with
--leader-elect) per cluster key, each in its own task; `readiness()` combines those
running now. `follow_registry` keeps the registered part of it equal to the store's
cluster registry (`serve --all-clusters`): every `interval` seconds it reads the registry,
starts a runner for a newly registered cluster and stops (cancels: its sync lease row
and Lease are given up) the runner of a removed one. A runner that ends by itself
(another serve syncs that cluster into the store) ends `Fleet.wait()` with its error,
as it ended serve before clusters could come and go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from helmguard.store import ClusterRecord, StoreError
from helmguard.sync.replica import ElectedSupervisor, Leaderless
from helmguard.sync.secret_cluster import SecretCluster
from helmguard.sync.supervisor import Readiness, combined_readiness

log = logging.getLogger(__name__)

REGISTRY_POLL_SECONDS = 3.0  # how often a following serve reads the cluster registry


class Runner(Protocol):
    def readiness(self) -> Readiness: ...

    async def run(self) -> None: ...


class Fleet:
    """Runners by cluster key ("" the default cluster), each in its own task."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[Runner, asyncio.Task[None]]] = {}
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __contains__(self, key: str) -> bool:
        return key in self._runs

    def keys(self) -> list[str]:
        return sorted(self._runs)

    def start(self, key: str, runner: Runner) -> None:
        if key in self._runs:
            raise ValueError(f"cluster {key!r} already runs")
        task = asyncio.create_task(runner.run(), name=f"sync {key}")
        task.add_done_callback(self._done)
        self._runs[key] = (runner, task)

    async def stop(self, key: str) -> None:
        """Cancel the cluster's runner and wait for it to give up what it holds."""
        _, task = self._runs.pop(key)
        task.remove_done_callback(self._done)
        task.cancel()
        # (One that ended by itself already told wait() its error.)
        await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(key) for key in list(self._runs)))

    def readiness(self) -> Readiness:
        """Ready while every running cluster is; otherwise not, naming each that is not."""
        return combined_readiness([runner.readiness for runner, _ in self._runs.values()])()

    def leaderless(self) -> dict[str, Leaderless]:
        """The clusters (--leader-elect) no replica leads, as this replica sees them."""
        found: dict[str, Leaderless] = {}
        for key, (runner, _) in self._runs.items():
            inner = runner.current if isinstance(runner, SecretCluster) else runner
            if isinstance(inner, ElectedSupervisor) and inner.leaderless is not None:
                found[key] = inner.leaderless
        return found

    async def wait(self) -> None:
        """Until a runner ends by itself: raises its error (a runner runs until cancelled)."""
        await asyncio.shield(self._ended)

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._ended.done() or task.cancelled():
            return
        error = task.exception()
        self._ended.set_exception(
            error if error is not None else RuntimeError(f"{task.get_name()} ended")
        )


async def follow_registry(
    fleet: Fleet,
    registered: Callable[[], Awaitable[list[ClusterRecord]]],
    start: Callable[[ClusterRecord], bool],
    stopped: Callable[[str], None],
    *,
    followed: dict[str, ClusterRecord],
    interval: float = REGISTRY_POLL_SECONDS,
) -> None:
    """Keep the runners of `followed` (the registered clusters running, by name) equal to
    the registry, until cancelled. `start` starts a newly registered cluster in `fleet`
    (False: it cannot, it said why; tried again once its registration changes); `stopped`
    is told each cluster stopped. A cluster removed and registered again differently between
    two reads is restarted."""
    refused: dict[str, ClusterRecord] = {}
    while True:
        await asyncio.sleep(interval)
        try:
            records = {c.name: c for c in await registered()}
        except StoreError as exc:  # the store is away: the runners go on, read again later
            log.warning("reading the cluster registry failed: %s", exc)
            continue
        for name, record in list(followed.items()):
            now = records.get(name)
            if now is None or _where(now) != _where(record):
                del followed[name]
                await fleet.stop(name)
                stopped(name)
        for name, record in records.items():
            if name in followed or name in fleet:
                continue
            if name in refused and _where(refused[name]) == _where(record):
                continue
            if not start(record):
                refused[name] = record
                continue
            refused.pop(name, None)
            followed[name] = record
        for name in set(refused) - set(records):
            del refused[name]


def _where(record: ClusterRecord) -> tuple[str, str, str]:
    return record.kubeconfig, record.context, record.secret
