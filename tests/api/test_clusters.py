"""Releases under several clusters, same names: the API lists, filters and opens them by
cluster, /api/clusters says who syncs each and which cannot be reached, the stream filters.

The unreachable cluster is made by the real sync supervisor pointed at a closed port: it
stores that cluster's releases Unknown with its reason, as `serve` does.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.clusterstore import DEFAULT, EAST, WEB, WORKER, fill_clusters, set_app_status
from api.conftest import AUTH, TOKEN, running
from api.live import read_events, serving
from helmguard.api.app import create_app
from helmguard.api.routes.clusters import WATCH_DOWN
from helmguard.deploy import DeployOptions
from helmguard.kube.informer import Connectivity
from helmguard.manifest import ObjectRef
from helmguard.status import app_status
from helmguard.store import (
    AppRecord,
    ClusterRecord,
    ObservedStatus,
    ReleaseKey,
    ReleaseRecord,
    Store,
    open_store,
)
from helmguard.sync.engine import _disconnected
from helmguard.sync.supervisor import UNREACHABLE


@pytest.fixture
async def clusters(store: Store, tmp_path: Path) -> AsyncIterator[tuple[Store, str]]:
    holder, server = await fill_clusters(store, tmp_path)
    yield store, server
    await store.release_sync("", holder)


@pytest.fixture
async def api(clusters: tuple[Store, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(clusters[0], token=TOKEN, public_read=True, poll_interval=0.05)
    async for client in running(app):
        yield client


def _where(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(i["release"]["cluster"], i["release"]["name"], i["state"]) for i in items]


async def test_release_list_carries_and_filters_by_cluster(api: httpx.AsyncClient) -> None:
    everything = (await api.get("/api/releases", headers=AUTH)).json()
    assert sorted(_where(everything)) == [
        ("", "web", "Ready"),
        ("east", "api", "Unknown"),
        ("east", "web", "Blocked"),
        ("west", "web", "Unknown"),
    ]
    east = (await api.get("/api/releases", params={"cluster": "east"}, headers=AUTH)).json()
    assert _where(east) == [("east", "api", "Unknown"), ("east", "web", "Blocked")]
    # Empty is the default cluster; a cluster nobody knows has no release (not an error).
    default = (await api.get("/api/releases?cluster=", headers=AUTH)).json()
    assert _where(default) == [("", "web", "Ready")]
    unknown = await api.get("/api/releases", params={"cluster": "north"}, headers=AUTH)
    assert (unknown.status_code, unknown.json()) == (200, [])


@pytest.mark.parametrize("bad", ["East", "east_1", "-east", "e" * 64, "a/b"])
async def test_a_cluster_name_that_is_no_dns_label_is_refused(
    api: httpx.AsyncClient, bad: str
) -> None:
    for path in ("/api/releases", "/api/releases/shop/web", "/api/stream"):
        got = await api.get(path, params={"cluster": bad}, headers=AUTH)
        assert got.status_code == 422, (path, got.text)
        [error] = got.json()["detail"]
        assert error["loc"] == ["query", "cluster"]
        assert f"cluster {bad!r} is not a cluster name: a DNS-1123 label" in error["msg"]


async def test_the_same_name_opens_on_each_cluster(api: httpx.AsyncClient) -> None:
    states = {}
    for cluster in ("", "east", "west"):
        detail = await api.get("/api/releases/shop/web", params={"cluster": cluster})
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["release"] == {"namespace": "shop", "name": "web", "cluster": cluster}
        states[cluster] = (body["status"]["state"], body["status"]["reason"])
        history = (
            await api.get("/api/releases/shop/web/history", params={"cluster": cluster})
        ).json()
        assert history, cluster
    assert states == {
        "": ("Ready", "Available"),
        "east": ("Blocked", "FailedCreate"),
        "west": ("Unknown", UNREACHABLE),
    }
    # No cluster given: the default cluster's.
    plain = (await api.get("/api/releases/shop/web")).json()
    assert plain["status"]["state"] == "Ready"
    missing = await api.get("/api/releases/shop/web", params={"cluster": "north"})
    assert missing.status_code == 404
    assert "not recorded on cluster 'north'" in missing.json()["detail"]
    assert "GET /api/releases?cluster=north" in missing.json()["detail"]
    only_east = await api.get("/api/releases/shop/api")
    assert only_east.status_code == 404 and "shop/api" in only_east.json()["detail"]


async def test_clusters_say_releases_sync_and_reachability(
    api: httpx.AsyncClient, clusters: tuple[Store, str]
) -> None:
    server = clusters[1]
    listed = (await api.get("/api/clusters", headers=AUTH)).json()
    by_name = {c["name"]: c for c in listed}
    assert [c["name"] for c in listed] == ["", "east", "west"]
    default, east, west = by_name[""], by_name["east"], by_name["west"]
    assert (default["label"], default["releases"], default["counts"]) == (
        "(default)",
        1,
        {"Ready": 1},
    )
    assert default["reachable"] and default["unreachable"] is None
    sync = default["sync"]
    assert sync["alive"] and 0 <= sync["heartbeat_age_seconds"] < 30
    assert sync["host"] == socket.gethostname() and sync["pid"] > 0
    # East: the release never synced counts as Unknown; nobody syncs it.
    assert east["counts"] == {"Blocked": 1, "Unknown": 1} and east["sync"] is None
    assert east["reachable"]
    assert west["reachable"] is False and west["counts"] == {"Unknown": 1}
    down = west["unreachable"]
    assert down["reason"] == UNREACHABLE and down["releases"] == 1
    assert server.removeprefix("https://") in down["message"], down["message"]
    assert down["since"] is not None
    # Anonymous readers (public read): no host or process of the sync.
    anonymous = {c["name"]: c for c in (await api.get("/api/clusters")).json()}
    assert anonymous[""]["sync"]["host"] is None and anonymous[""]["sync"]["pid"] is None
    assert anonymous["west"]["unreachable"] == down
    assert not any(c["registered"] for c in listed)


async def test_a_registered_cluster_is_listed_before_its_first_release(
    api: httpx.AsyncClient, clusters: tuple[Store, str], tmp_path: Path
) -> None:
    store = clusters[0]
    kubeconfig = tmp_path / "north.kubeconfig"
    kubeconfig.write_text("")
    assert await store.add_cluster(ClusterRecord("north", str(kubeconfig), "north"))
    listed = {c["name"]: c for c in (await api.get("/api/clusters", headers=AUTH)).json()}
    assert sorted(listed) == ["", "east", "north", "west"]
    north = listed["north"]
    assert north["registered"] and north["releases"] == 0 and north["counts"] == {}
    assert north["sync"] is None and north["reachable"]
    assert not listed["east"]["registered"]


async def test_a_sync_killed_holding_the_lease_is_not_alive(tmp_path: Path) -> None:
    """A sync SIGKILLed holding the lease leaves its row: the cluster's sync is not alive."""
    db = str(tmp_path / "helmguard.db")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        "lease",
        db,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert worker.stdout is not None
    assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"held"
    async with await open_store(db, read_only=True) as store:
        app = create_app(store, token=TOKEN, poll_interval=0.05)
        async for client in running(app):
            [held] = (await client.get("/api/clusters", headers=AUTH)).json()
            assert (held["name"], held["releases"], held["sync"]["alive"]) == ("", 0, True)
            assert held["sync"]["pid"] == worker.pid
            worker.kill()
            await worker.wait()
            [gone] = (await client.get("/api/clusters", headers=AUTH)).json()
            assert gone["sync"]["alive"] is False and gone["sync"]["pid"] == worker.pid


async def test_stream_filters_by_cluster(clusters: tuple[Store, str]) -> None:
    store = clusters[0]
    app = create_app(store, token=TOKEN, poll_interval=0.05)
    got: dict[str, list[tuple[str, dict[str, Any]]]] = {"all": [], "east": [], "web@east": []}
    params = {
        "all": {},
        "east": {"cluster": "east"},
        "web@east": {"cluster": "east", **dict(zip(("namespace", "name"), WEB, strict=True))},
    }
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        readies = {k: asyncio.Event() for k in got}
        tasks = [
            asyncio.create_task(
                read_events(http, "/api/stream", got[k], readies[k], headers=AUTH, params=params[k])
            )
            for k in got
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies.values())), 10)
        await set_app_status(store, DEFAULT, "Failed", "CrashLoop", "back-off restarting")
        await set_app_status(store, EAST, "Ready", "Available", "1 of 1 available")
        await set_app_status(
            store, ReleaseKey("shop", "api", "east"), "Ready", "Available", "1 of 1 available"
        )
        for _ in range(200):
            if len(got["all"]) >= 6 and len(got["east"]) >= 4 and len(got["web@east"]) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything wrongly let through has arrived by now
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def releases(events: list[tuple[str, dict[str, Any]]]) -> set[tuple[str, str]]:
        return {(d["release"]["cluster"], d["release"]["name"]) for _, d in events}

    assert releases(got["all"]) == {("", "web"), ("east", "web"), ("east", "api")}
    assert releases(got["east"]) == {("east", "web"), ("east", "api")}
    assert releases(got["web@east"]) == {("east", "web")}
    assert {d["to_state"] for _, d in got["web@east"]} == {"Ready"}


async def test_a_cluster_whose_watches_are_down_is_not_reachable(store: Store) -> None:
    """A running sync whose watches went down stores its releases Unknown (WatchDisconnected,
    sync.engine's status for a disconnected watch, through the app status rule)."""
    key = ReleaseKey("shop", "web", "east")
    await store.record_release(ReleaseRecord(key, "web", "1.0.0"))
    since, now = datetime.now(UTC) - timedelta(seconds=40), datetime.now(UTC)
    dep = ObjectRef("apps", "Deployment", "shop", "web")
    down = _disconnected(dep, Connectivity(False, since, "Cannot connect to the API server"))
    app = app_status([down])
    await store.upsert_statuses(
        [(key, ObservedStatus(dep, down.state.value, down.reason, down.message, since, now))],
        [(key, AppRecord(app.state.value, app.reason, app.message, app.since, now))],
    )
    api = create_app(store, token=TOKEN, poll_interval=0.05)
    async for client in running(api):
        [east] = (await client.get("/api/clusters", headers=AUTH)).json()
    assert east["reachable"] is False and east["counts"] == {"Unknown": 1}
    assert east["unreachable"]["reason"] == WATCH_DOWN == down.reason
    assert "Cannot connect to the API server" in east["unreachable"]["message"]


async def test_rollback_and_uninstall_refuse_a_cluster_this_server_does_not_serve(
    clusters: tuple[Store, str],
) -> None:
    """The deploy options reach the default cluster only: a same-named release of east is
    never rolled back or uninstalled there (tests/api/test_cluster_writes.py: a served one)."""
    app = create_app(clusters[0], token=TOKEN, poll_interval=0.05, deploy_options=DeployOptions())
    async for client in running(app):
        for action, body in (("rollback", {"revision": 1}), ("uninstall", {})):
            path = f"/api/releases/shop/web/{action}"
            refused = await client.post(path, params={"cluster": "east"}, json=body, headers=AUTH)
            assert refused.status_code == 404, refused.text
            assert refused.json()["detail"] == (
                "cluster 'east' is not served here; served: '' (the default)"
            )
            bad = await client.post(path, params={"cluster": "East"}, json=body, headers=AUTH)
            assert bad.status_code == 422, bad.text
        # Nothing was started: the release's stored state is as it was.
        detail = (await client.get("/api/releases/shop/web?cluster=east", headers=AUTH)).json()
        assert detail["stored_status"] == "deployed" and detail["status"]["state"] == "Blocked"
