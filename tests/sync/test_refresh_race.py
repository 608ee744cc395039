"""A release added while the refresher reads the store is not undone by that stale read.

bench/sync.py's seed once went undetected: the release was registered and added while a
refresher pass was reading the store. That pass then either dropped it (absent from the
marks it had read) or replaced it with what it had loaded before the selector was recorded
(a release with no members), and the sync managed it rightly again only on a later pass.
The tests hold one of the refresher's reads (the real store answers; the answer is handed
over when the test says) to make each interleaving certain.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from helmguard.kube.client import Kube
from helmguard.store import ReleaseKey, ReleaseRecord, Store
from helmguard.sync import Sync, load_release, register_release

SELECTOR = "app.kubernetes.io/instance=seed"


class Held:
    """The real store; each answer of its method `held` waits until the test lets it go."""

    def __init__(self, store: Store, held: str) -> None:
        self._store = store
        self._held = held
        self.read = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name != self._held:
            return method

        async def held(*args: Any, **kwargs: Any) -> Any:
            answer = await method(*args, **kwargs)
            self.read.set()
            await self.go.wait()
            self.go.clear()
            return answer

        return held

    async def next_pass(self) -> None:
        """Let the held read go, and wait until a later pass reads again (this one is over)."""
        self.read.clear()
        self.go.set()
        await asyncio.wait_for(self.read.wait(), 10)


async def test_a_release_added_during_a_refresh_stays_managed(
    kube: Kube, store: Store, namespace: str
) -> None:
    sync = Sync(kube, store, refresh=0.05)
    await sync.start()
    held = Held(store, "release_marks")
    sync.store = cast(Store, held)
    try:
        # A pass has read the marks (no release yet) and is held before it goes on.
        await asyncio.wait_for(held.read.wait(), 10)
        key = ReleaseKey(namespace, "seed")
        await register_release(store, key, SELECTOR)
        record = await store.get_release(key)
        assert record is not None
        await sync.add_release(await load_release(store, record))
        await held.next_pass()
        assert key in sync.index.releases, "the stale pass dropped the release just added"
    finally:
        held.go.set()
        sync.store = store
        await sync.stop()


async def test_a_release_added_during_a_refresh_keeps_its_selector(
    kube: Kube, store: Store, namespace: str
) -> None:
    sync = Sync(kube, store, refresh=0.05)
    await sync.start()
    held = Held(store, "list_revisions")
    sync.store = cast(Store, held)
    key = ReleaseKey(namespace, "seed")
    try:
        # `manage` records the release, then its selector (revision 0): a pass reads the
        # release between the two and is held with what it read (no selector).
        await store.record_release(ReleaseRecord(key, "external", "", status="registered"))
        await asyncio.wait_for(held.read.wait(), 10)
        await register_release(store, key, SELECTOR)
        record = await store.get_release(key)
        assert record is not None
        await sync.add_release(await load_release(store, record))
        await held.next_pass()
        managed = sync.index.releases.get(key)
        assert managed is not None and managed.selector is not None, (
            "the stale pass replaced the release just added with one that has no members"
        )
    finally:
        held.go.set()
        sync.store = store
        await sync.stop()
