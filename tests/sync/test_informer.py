"""The informer on the sandbox: list+watch, bookmarks, 410 Gone re-list with a diff, stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from helmguard.kube.client import Kube
from helmguard.kube.informer import Connectivity, Informer, object_key, without_contents
from helmguard.sandbox.cluster import Sandbox
from sync.scenario import compact_etcd

Seen = list[tuple[str, str]]


async def configmaps(kube: Kube) -> Any:
    return (await kube.discovery.resources()).for_kind("", "ConfigMap")


def recorder(seen: Seen) -> Callable[[str, dict[str, Any]], Any]:
    async def handle(kind: str, body: dict[str, Any]) -> None:
        seen.append((kind, object_key(body)))

    return handle


async def eventually(probe: Callable[[], bool], what: str, within: float = 15) -> float:
    """Wait until `probe()` is true; return how long it took."""
    start = time.monotonic()
    while not probe():
        assert time.monotonic() - start < within, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def cm(kube: Kube, ns: str, name: str, data: dict[str, str]) -> None:
    await kube.send_json(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": name}, "data": data}
    )


async def merge_patch(kube: Kube, path: str, body: dict[str, Any]) -> None:
    await kube.send_json("PATCH", path, body, content_type="application/merge-patch+json")


async def test_list_then_watch_delivers_changes_and_bookmarks(
    kube: Kube, admin_http: httpx.Client, namespace: str
) -> None:
    await cm(kube, namespace, "before", {"a": "1"})
    seen: Seen = []
    informer = Informer(
        kube, await configmaps(kube), recorder(seen), namespace=namespace, watch_timeout=4
    )
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 15)
        assert (("ADDED", f"{namespace}/before")) in seen
        assert informer.connectivity.up
        await cm(kube, namespace, "after", {"b": "2"})
        await eventually(lambda: ("ADDED", f"{namespace}/after") in seen, "ADDED after")
        await merge_patch(
            kube, f"/api/v1/namespaces/{namespace}/configmaps/after", {"data": {"b": "3"}}
        )
        await eventually(lambda: ("MODIFIED", f"{namespace}/after") in seen, "MODIFIED after")
        assert informer.cache[f"{namespace}/after"]["data"] == {"b": "3"}
        await kube.send_json("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/before")
        await eventually(lambda: ("DELETED", f"{namespace}/before") in seen, "DELETED before")
        assert f"{namespace}/before" not in informer.cache
        # The server sends a bookmark shortly before a watch's timeoutSeconds ends.
        await eventually(lambda: informer.stats.bookmarks >= 1, "a bookmark", within=20)
        await eventually(lambda: informer.stats.watches >= 2, "a resumed watch", within=20)
        assert informer.stats.lists == 1  # a normal watch end resumes without re-listing
        assert informer.stats.errors == 0
    finally:
        await informer.stop()


async def test_a_quiet_watch_is_relisted_without_reporting_a_disconnection(
    kube: Kube, namespace: str
) -> None:
    # No event nor bookmark within the inactivity timeout: the informer re-lists to learn
    # whether the server answers, and says nothing is down while it does (a quiet namespace
    # must not turn its releases Unknown).
    seen: Seen = []
    changes: list[Connectivity] = []

    async def connectivity(state: Connectivity) -> None:
        changes.append(state)

    informer = Informer(
        kube,
        await configmaps(kube),
        recorder(seen),
        namespace=namespace,
        on_connectivity=connectivity,
        inactivity_timeout=1.5,
        watch_timeout=30,
    )
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 15)
        await eventually(lambda: informer.stats.inactivity_restarts >= 2, "two silent watches")
        await eventually(lambda: informer.stats.lists >= 2, "a re-list after a silent watch")
        assert all(change.up for change in changes), changes
        assert informer.connectivity.up and informer.stats.errors == 0
        await cm(kube, namespace, "later", {"a": "1"})
        await eventually(lambda: ("ADDED", f"{namespace}/later") in seen, "ADDED later")
    finally:
        await informer.stop()


async def test_gone_relists_and_reports_deletions_made_during_the_gap(
    kube: Kube, admin_http: httpx.Client, namespace: str, sandbox: Sandbox
) -> None:
    for name in ("stays", "changes", "goes"):
        await cm(kube, namespace, name, {"k": name})
    first_seen: Seen = []
    first = Informer(kube, await configmaps(kube), recorder(first_seen), namespace=namespace)
    first.start()
    await asyncio.wait_for(first.synced.wait(), 15)
    await first.stop()
    assert {k for _, k in first_seen} >= {f"{namespace}/{n}" for n in ("stays", "changes", "goes")}

    # While nobody watches: one deleted, one changed, one created.
    await kube.send_json("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/goes")
    await merge_patch(
        kube, f"/api/v1/namespaces/{namespace}/configmaps/changes", {"data": {"k": "new"}}
    )
    await cm(kube, namespace, "new", {"k": "new"})

    # Resume from resourceVersion 1 after a compaction: the history is gone -> 410 Gone.
    compact_etcd(sandbox)
    seen: Seen = []
    resumed = Informer(
        kube,
        await configmaps(kube),
        recorder(seen),
        namespace=namespace,
        resource_version="1",
        cache=first.cache,
    )
    resumed.start()
    try:
        await eventually(lambda: resumed.stats.expired >= 1, "410 Gone")
        await eventually(lambda: resumed.stats.lists >= 1, "the re-list")
        await eventually(lambda: len(seen) >= 3, "the diff")
        assert sorted(seen) == sorted(
            [
                ("DELETED", f"{namespace}/goes"),
                ("MODIFIED", f"{namespace}/changes"),
                ("ADDED", f"{namespace}/new"),
            ]
        )
        assert set(resumed.cache) == {
            f"{namespace}/{n}" for n in ("stays", "changes", "new", "kube-root-ca.crt")
        }
        assert resumed.connectivity.up
    finally:
        await resumed.stop()


async def test_secret_values_never_reach_the_cache(
    kube: Kube, admin_http: httpx.Client, namespace: str
) -> None:
    await kube.send_json(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}},
    )
    secrets = (await kube.discovery.resources()).for_kind("", "Secret")
    assert secrets is not None
    seen: Seen = []
    informer = Informer(
        kube, secrets, recorder(seen), namespace=namespace, transform=without_contents
    )
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 15)
        cached = informer.cache[f"{namespace}/creds"]
        assert cached["data"] == {"password": ""}
        assert "hunter2" not in repr(cached) and "aHVudGVyMg" not in repr(cached)
    finally:
        await informer.stop()
