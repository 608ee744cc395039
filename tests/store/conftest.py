"""Every store test runs twice: on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from helmguard.store import ReleaseKey, ReleaseRecord, Store, open_store
from pgserver import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("tmp_path") / "helmguard.db")
        return
    admin = request.getfixturevalue("pg_admin_url")
    async with fresh_database(admin) as url:
        yield url


@pytest.fixture
def backend(db_url: str) -> str:
    return "postgresql" if db_url.startswith("postgresql") else "sqlite"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """An open, migrated store with one recorded release, RELEASE."""
    opened = await open_store(db_url)
    try:
        await opened.record_release(ReleaseRecord(RELEASE, "oci://charts.example/web", "1.2.3"))
        yield opened
    finally:
        await opened.close()


RELEASE = ReleaseKey(namespace="shop", name="web")
