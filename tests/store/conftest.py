"""Every store test runs twice: on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from helmguard.store import ReleaseKey, ReleaseRecord, Store, open_store
from pgserver import postgres_server


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session; missing binaries fail the run (CI installs them)."""
    server = postgres_server()
    try:
        url = server.__enter__()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver, for asyncpg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("tmp_path") / "helmguard.db")
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"hg_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(libpq_url(admin))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    connection = await asyncpg.connect(libpq_url(admin))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


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
