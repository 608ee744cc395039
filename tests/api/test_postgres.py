"""The API over PostgreSQL: the same reads and the live stream on the shared-database backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from api.clusterstore import fill_clusters
from api.conftest import AUTH, SEED, TOKEN, running, seed_store
from api.live import read_events, serving
from helmguard.api.app import create_app
from helmguard.manifest import ObjectRef
from helmguard.store import ObservedStatus, ReleaseKey, ReleaseRecord, open_store, resolve
from helmguard.store.models import OperationLog, Release
from pgserver import fresh_database


@pytest.fixture
async def pg_url(pg_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(pg_admin_url, "hg_api") as url:
        yield url


async def test_reads_graph_and_stream_on_postgresql(pg_url: str) -> None:
    async with await open_store(pg_url) as store:
        await seed_store(store)
        app = create_app(store, token=TOKEN, poll_interval=0.05)
        async for client in running(app):
            [item] = (await client.get("/api/releases", headers=AUTH)).json()
            assert item["state"] == "Blocked"
            assert item["root_cause"]["text"] == "ServiceAccount msga-cn/vault-svc"
            detail = (await client.get("/api/releases/msga-cn/common", headers=AUTH)).json()
            assert detail["components"][0]["reason"] == "MissingDependency"
            graph = (await client.get("/api/releases/msga-cn/common/graph", headers=AUTH)).json()
            assert [e["target"] for e in graph["edges"] if e["broken"]] == [
                "ServiceAccount msga-cn/vault-svc"
            ]
            assert (await client.get("/readyz")).status_code == 200
        got: list[tuple[str, dict[str, object]]] = []
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            ready = asyncio.Event()
            task = asyncio.create_task(
                read_events(
                    http,
                    "/api/stream",
                    got,
                    ready,
                    headers=AUTH,
                    params={"namespace": "msga-cn", "name": "common"},
                )
            )
            await asyncio.wait_for(ready.wait(), 10)
            now = datetime.now(UTC)
            dep = ObjectRef("apps", "Deployment", "msga-cn", "common-vault")
            await store.upsert_resource_status(
                SEED, ObservedStatus(dep, "Ready", "Available", "1 of 1 available", now, now)
            )
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    [(event, data)] = got
    assert event == "transition"
    assert (data["from_state"], data["to_state"]) == ("Blocked", "Ready")


async def test_a_row_committed_after_higher_ids_still_reaches_the_stream(pg_url: str) -> None:
    """PostgreSQL hands ids out before commit: a slow transaction's row shows up late."""
    key = ReleaseKey("shop", "web")
    async with await open_store(pg_url) as store:
        await store.record_release(ReleaseRecord(key, "web", "1.0.0"))
        app = create_app(store, token=TOKEN, poll_interval=0.05)
        # Another writer of the database (a CLI deploy, another replica), in its own transaction.
        other = create_async_engine(resolve(pg_url).url)
        got: list[tuple[str, dict[str, Any]]] = []
        try:
            async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
                ready = asyncio.Event()
                reading = read_events(http, "/api/stream", got, ready, headers=AUTH)
                task = asyncio.create_task(reading)
                await asyncio.wait_for(ready.wait(), 10)
                async with other.connect() as slow:
                    await slow.begin()
                    release_id = (await slow.execute(select(Release.c.id))).scalar_one()
                    await slow.execute(
                        insert(OperationLog).values(
                            release_id=release_id,
                            revision=1,
                            seq=1,
                            at=datetime.now(UTC),
                            level="info",
                            step="slow",
                            message="took its id first, committed last",
                            details={},
                        )
                    )
                    await store.add_operation_log(key, 2, "fast", "committed first")
                    await _until(lambda: [d["step"] for _, d in got] == ["fast"])
                    await asyncio.sleep(0.3)  # the feed polls past the slow row's id meanwhile
                    await slow.commit()
                await _until(lambda: len(got) == 2)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await other.dispose()
    steps = [(d["step"], d["id"]) for _, d in got]
    assert [s for s, _ in steps] == ["fast", "slow"]
    assert steps[1][1] < steps[0][1]


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_clusters_and_the_cluster_filter_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The per-cluster reads group by cluster and app state (NULL for never synced)."""
    async with await open_store(pg_url) as store:
        holder, server = await fill_clusters(store, tmp_path)
        app = create_app(store, token=TOKEN, poll_interval=0.05)
        async for client in running(app):
            listed = (await client.get("/api/clusters", headers=AUTH)).json()
            assert [(c["name"], c["releases"], c["counts"], c["reachable"]) for c in listed] == [
                ("", 1, {"Ready": 1}, True),
                ("east", 2, {"Blocked": 1, "Unknown": 1}, True),
                ("west", 1, {"Unknown": 1}, False),
            ]
            assert listed[0]["sync"]["alive"] and listed[1]["sync"] is None
            assert server.removeprefix("https://") in listed[2]["unreachable"]["message"]
            east = (await client.get("/api/releases?cluster=east", headers=AUTH)).json()
            assert [(r["release"]["cluster"], r["release"]["name"]) for r in east] == [
                ("east", "api"),
                ("east", "web"),
            ]
            detail = await client.get("/api/releases/shop/web?cluster=east", headers=AUTH)
            assert detail.json()["status"]["state"] == "Blocked"
        await store.release_sync("", holder)
