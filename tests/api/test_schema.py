"""schemathesis against the OpenAPI schema, with the token: no request may cause a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.conftest import AUTH, REPO, TOKEN, seed_store
from api.live import serving
from helmguard.api.app import create_app
from helmguard.api.uploads import UploadCache
from helmguard.deploy import DeployOptions
from helmguard.store import open_store


def _serve(db: str, ready: threading.Event, stop: threading.Event, url: list[str]) -> None:
    async def main() -> None:
        async with await open_store(db) as store:
            await seed_store(store)
            # Deploys enabled against a cluster that cannot be reached: operations start, fail.
            options = DeployOptions(kubeconfig=str(Path(db).with_name("no-kubeconfig")), timeout=5)
            app = create_app(
                store,
                token=TOKEN,
                chart_roots=[REPO / "examples"],
                uploads=UploadCache(Path(db).with_name("uploads")),
                deploy_options=options,
            )
            async with serving(app) as base:
                url.append(base)
                ready.set()
                await asyncio.to_thread(stop.wait)

    asyncio.run(main())


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API over a seeded SQLite store, on a real server in a thread of its own."""
    db = str(Path(tmp_path_factory.mktemp("schema")) / "helmguard.db")
    ready, stop, url = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=_serve, args=(db, ready, stop, url), daemon=True)
    thread.start()
    assert ready.wait(60), "the API did not start"
    yield url[0]
    stop.set()
    thread.join(30)


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json", headers=AUTH)
    # The event stream never ends by design; it is exercised in test_stream.py.
    return schema.exclude(path="/api/stream")


def test_no_server_errors(api_schema: schemathesis.BaseSchema, api_url: str) -> None:
    # Each operation gets its own hypothesis run (schemathesis' pytest plugin predates pytest 9).
    tested = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        tested.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=api_url, headers=AUTH, timeout=60)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])

        call()
    assert "POST /api/check" in tested and "GET /api/releases/{namespace}/{name}/graph" in tested
