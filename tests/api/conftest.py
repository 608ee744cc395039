"""API test fixtures: a real SQLite store filled by the real status rules, the app over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.statuswriter import compute, event_records, write
from helmguard.api.app import create_app
from helmguard.chart.render import RenderRequest, render_chart
from helmguard.graph.order import build_plan, plan_to_dict
from helmguard.manifest import parse_objects
from helmguard.store import ReleaseKey, ReleaseRecord, RevisionRecord, Store

TOKEN = "test-token-5f0c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]
SEED_CHART = REPO / "examples" / "vault-seed"
SEED = ReleaseKey("msga-cn", "common")
FIXTURE = REPO / "tests" / "status" / "fixtures" / "seed_missing_sa.yaml"


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own data directory: uploads (and any default store) stay in tmp_path."""
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


async def seed_store(store: Store) -> None:
    """The seed incident as sync would have recorded it: rendered chart, recorded objects."""
    rendered = render_chart(
        RenderRequest(chart=str(SEED_CHART), release=SEED.name, namespace=SEED.namespace)
    )
    plan = build_plan(rendered.objects)
    now = datetime.now(UTC)
    await store.record_release(ReleaseRecord(SEED, "vault", "0.1.0", 1, "Unknown"))
    await store.record_revision(
        RevisionRecord(SEED, 1, "vault", "0.1.0", "sha256:0", now, plan=plan_to_dict(plan))
    )
    recorded = parse_objects(FIXTURE.read_text(), FIXTURE.name)
    live = [o for o in recorded if o.kind != "Event"]
    # The objects the fixture lacks are as the chart rendered them (applied, no status yet).
    live += [o for o in rendered.objects if o.ref not in {x.ref for x in live}]
    events = [o for o in recorded if o.kind == "Event"]
    statuses = compute([o.ref for o in rendered.objects], live, events, now)
    await write(store, SEED, statuses, now)
    await store.add_events(SEED, event_records(events))
    await store.add_operation_log(SEED, 1, "plan", f"{len(plan.waves)} waves")
    await store.add_operation_log(SEED, 1, "apply", "applied wave 0")
    await store.finish_revision(SEED, 1, "deployed")


@pytest.fixture
async def seeded(store: Store) -> Store:
    await seed_store(store)
    return store


async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hg") as client,
    ):
        yield client


@pytest.fixture
async def client(seeded: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the seeded store; token TOKEN, reads need it, charts from the repo."""
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"], poll_interval=0.05)
    async for c in running(app):
        yield c
