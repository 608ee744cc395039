"""The deploy's wait reads the release through watches: list once, then follow changes.

`ReleaseWatch(cluster, refs)` starts one `Informer` per collection `sync.look.looks` names
(the inventory's kinds per namespace, the children status rules read and the objects
workloads need by name, the Nodes when a DaemonSet is in the release) and builds each
`Snapshot` from their caches with the same `assemble` the polling look and the sync use,
so statuses are computed by the same rules from the same objects. `changed()` returns as
soon as a watch delivers a change (or the timeout passes).

A cache may hold an object as it was before the deploy changed it: the informers start
before the waves, and the apply's answer can come back before its watch event. `expect()`
takes the resourceVersions the applies returned; until a collection's informer has taken
each of its objects' in (every version a cache takes in passes its handler), that
collection is listed at each look instead, a list that reflects the apply. Without it, a
rollback to a revision that cannot run was judged from the revision it replaced: Ready.

A collection is also polled (one list per look, as `observe_release` does) when it cannot be
watched: its kind is not served or has no `watch` verb, its informer has not listed it,
or its watch failed and is not open again (RBAC refuses watch, the API server restarts).
The list then fails or succeeds exactly as the polling look would: Nodes we may not list
are None, so are the objects workloads need that we may not list (they are not judged),
other errors leave as `KubeError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.observe import list_nodes, read_collection
from helmguard.kube.errors import MissingDependency
from helmguard.kube.informer import Body, Informer
from helmguard.manifest import ObjectRef
from helmguard.sync.look import NODES, Collection, Snapshot, assemble, kept, looks_at

# How long the first look waits for every informer's first list before polling the rest.
_FIRST_LIST_SECONDS = 1.0


class ReleaseWatch:
    """Informers over a release's collections for the duration of one wait."""

    def __init__(self, cluster: Cluster, refs: Iterable[ObjectRef]) -> None:
        self.cluster = cluster
        self.plan = looks_at(refs)
        self.collections = self.plan.collections + ([NODES] if self.plan.placement else [])
        self.informers: dict[Collection, Informer] = {}
        self._changed = asyncio.Event()
        self._looked = False
        # Per collection, the (name, resourceVersion) its informer's cache has taken in.
        self._seen: dict[Collection, set[tuple[str, str]]] = {}
        self._expected: dict[ObjectRef, str] = {}  # what the applies returned, not seen yet

    async def __aenter__(self) -> ReleaseWatch:
        await self.listed()
        return self

    async def listed(self) -> None:
        """Start the informers if need be, and wait (briefly) for their first lists."""
        await self.start()
        await self._first_lists()

    async def start(self) -> None:
        """Start the informers, without waiting for their first lists (once; idempotent).

        A deploy starts them before it applies, so the wait begins with what they saw.
        """
        if self.informers:
            return
        for collection in self.collections:
            group, kind, namespace = collection
            try:
                res = await self.cluster.resource(group, kind)
            except MissingDependency:
                continue  # not served: polled, so it is Missing exactly as a list says
            if "watch" not in res.verbs:
                continue
            informer = Informer(
                self.cluster.kube,
                res,
                functools.partial(self._on_change, collection),
                namespace=namespace or None,
                # Secret values never stay in memory; no status rule reads them.
                transform=kept(group, kind),
            )
            self.informers[collection] = informer
            informer.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self.informers.values()))

    async def _on_change(self, collection: Collection, _kind: str, body: Body) -> None:
        meta = body.get("metadata") or {}
        name = str(meta.get("name"))
        # Only the release's own objects are applied: children and Events are not kept.
        if name in self.plan.inventory.get(collection, ()):
            version = str(meta.get("resourceVersion") or "")
            self._seen.setdefault(collection, set()).add((name, version))
        self._changed.set()

    def expect(self, versions: Mapping[ObjectRef, str]) -> None:
        """The resourceVersions the deploy's applies returned, by object: a collection whose
        cache has not taken one of them in is listed at each look instead."""
        self._expected.update({ref: v for ref, v in versions.items() if v})

    def _behind(self, collection: Collection) -> bool:
        """Whether the cache of `collection` may still hold an object from before its apply."""
        group, kind, namespace = collection
        seen = self._seen.get(collection, set())
        behind = False
        for ref, version in list(self._expected.items()):
            if (ref.group, ref.kind, ref.namespace) != (group, kind, namespace):
                continue
            if (ref.name, version) in seen:
                del self._expected[ref]
            else:
                behind = True
        return behind

    def _watched(self, collection: Collection) -> Informer | None:
        """The informer that reflects `collection` right now, if any."""
        informer = self.informers.get(collection)
        if informer is None or not informer.synced.is_set() or not informer.connectivity.up:
            return None
        # Listed and not failed yet, or watching again since: after a failure (a watch
        # RBAC refuses, a restarting API server) only an open watch is trusted.
        return informer if informer.watching or not informer.stats.errors else None

    @property
    def polling(self) -> bool:
        """Whether some collection is read by listing it at every look."""
        return any(self._watched(c) is None for c in self.collections)

    async def _first_lists(self) -> None:
        """Wait (briefly) until every informer has listed or failed: the first look is whole.

        Informers that have not listed by then are polled until they have."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FIRST_LIST_SECONDS):
                await asyncio.gather(*(i.answered.wait() for i in self.informers.values()))

    async def snapshot(self) -> Snapshot:
        """The release now: caches of the watched collections, a list of the others."""
        self._changed.clear()  # a change from here on wakes the next look
        first, self._looked = not self._looked, True
        listed: dict[Collection, Sequence[Body] | None] = {}
        polled: list[Collection] = []
        for collection in self.plan.collections:
            informer = self._watched(collection)
            if (
                informer is None
                or (first and not self._holds(informer, collection))
                or self._behind(collection)
            ):
                polled.append(collection)
            else:
                listed[collection] = list(informer.cache.values())
        results, nodes = await asyncio.gather(
            asyncio.gather(*(read_collection(self.cluster, self.plan, c) for c in polled)),
            self._nodes(),
        )
        listed.update(zip(polled, results, strict=True))
        return assemble(self.plan, listed, nodes)

    def _holds(self, informer: Informer, collection: Collection) -> bool:
        """Whether the cache has every release object of `collection`; if not, the first
        look lists it.

        The informers start before the objects are applied: the watch event of a create
        may still be on its way at the first look, and the object is not Missing. What
        that list does not show is Missing; its creation later comes through the watch.
        """
        names = self.plan.inventory.get(collection)
        if not names:
            return True
        return names <= {str(item["metadata"]["name"]) for item in informer.cache.values()}

    async def _nodes(self) -> Sequence[Body] | None:
        if not self.plan.placement:
            return None
        informer = self._watched(NODES)
        if informer is None:
            return await list_nodes(self.cluster)
        return list(informer.cache.values())

    async def changed(self, seconds: float) -> None:
        """Return when a watch delivers a change, or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()
