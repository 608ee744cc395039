"""The API over PostgreSQL: the same reads and the live stream on the shared-database backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from api.conftest import AUTH, SEED, TOKEN, running, seed_store
from api.live import read_events, serving
from helmguard.api.app import create_app
from helmguard.manifest import ObjectRef
from helmguard.store import ObservedStatus, open_store
from pgserver import postgres_server


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    server = postgres_server()
    try:
        url = server.__enter__()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def pg_url(pg_server: str) -> AsyncIterator[str]:
    name = f"hg_api_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_libpq(pg_server))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    connection = await asyncpg.connect(_libpq(pg_server))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


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
