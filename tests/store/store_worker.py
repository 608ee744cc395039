"""A separate process that uses the store, for the multi-process tests (run as a script).

    store_worker.py hold URL            open for writing, print "ready", wait for stdin to close
    store_worker.py burst URL RELEASE N write N status flips over 20 Pods in groups of 50,
                                        printing "committed K" after each group
    store_worker.py lease URL           take the sync lease of cluster "", print "held", wait
                                        for stdin to close
Errors are printed as "StoreError: <message>" with exit status 3.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from helmguard.manifest import ObjectRef
from helmguard.store import ObservedStatus, ReleaseKey, ReleaseRecord, StoreError, open_store

PODS = 20


def say(line: str) -> None:
    print(line, flush=True)


async def hold(url: str) -> None:
    async with await open_store(url):
        say("ready")
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def lease(url: str) -> None:
    async with await open_store(url) as store:
        await store.acquire_sync()
        say("held")
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def burst(url: str, release_name: str, count: int) -> None:
    release = ReleaseKey("shop", release_name)
    async with await open_store(url) as store:
        if await store.get_release(release) is None:
            await store.record_release(ReleaseRecord(release, "web", "1.0.0"))
        # Continue where a previous (possibly killed) process stopped.
        start = sum(1 for _ in await store.history(release, limit=10**9))
        say(f"start {start}")
        for group in range(start, start + count, 50):
            writes = []
            for n in range(group, min(group + 50, start + count)):
                pod = ObjectRef("", "Pod", "shop", f"web-{n % PODS}")
                now = datetime.now(UTC)
                state = ("Ready", "Blocked")[(n // PODS) % 2]
                status = ObservedStatus(pod, state, f"flip{n}", f"write {n}", now, now, str(n))
                writes.append(store.upsert_resource_status(release, status))
            await asyncio.gather(*writes)
            say(f"committed {min(group + 50, start + count)}")


def main() -> int:
    mode, url = sys.argv[1], sys.argv[2]
    try:
        if mode == "hold":
            asyncio.run(hold(url))
        elif mode == "lease":
            asyncio.run(lease(url))
        else:
            asyncio.run(burst(url, sys.argv[3], int(sys.argv[4])))
    except StoreError as exc:
        say(f"StoreError: {exc}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
