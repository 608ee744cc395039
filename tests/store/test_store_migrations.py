"""Migrations: up from empty on both backends, schema equals the models, newer DBs refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from helmguard.cli import main
from helmguard.store import StoreError, open_store
from helmguard.store.db import Backend, database_revision, resolve, upgrade_database
from helmguard.store.migrate import HEAD, MIGRATIONS
from helmguard.store.models import metadata

TABLES = {
    "releases",
    "revisions",
    "resources",
    "status_transitions",
    "events",
    "operation_log",
    "sync_leases",
    "chart_repositories",
}


def test_head_constant_is_the_newest_shipped_migration() -> None:
    """Starts check the database against HEAD without Alembic: it must be Alembic's head."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


async def test_upgrade_from_empty_creates_every_table_and_index(db_url: str) -> None:
    if db_url.startswith("postgresql"):
        assert (await database_revision(db_url))[1] is None
    where, revision = await upgrade_database(db_url)
    assert revision == HEAD

    def schema(connection: Connection) -> tuple[set[str], set[str]]:
        inspector = inspect(connection)
        tables = set(inspector.get_table_names())
        indexes = {i["name"] for t in TABLES for i in inspector.get_indexes(t) if i["name"]}
        return tables, indexes

    reader = Backend(resolve(db_url), writer=False)
    try:
        tables, indexes = await reader.run(schema)
    finally:
        await reader.dispose()
    assert tables >= TABLES | {"alembic_version"}
    assert {
        "ix_status_transitions_release_at",
        "ix_status_transitions_object_at",
        "ix_events_release_last_seen",
        "ix_operation_log_at",
    } <= indexes
    assert (await database_revision(db_url))[1:] == (revision, revision)
    assert where


async def test_migrated_schema_matches_the_models(db_url: str) -> None:
    await upgrade_database(db_url)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    reader = Backend(resolve(db_url), writer=False)
    try:
        differences = await reader.run(diff)
    finally:
        await reader.dispose()
    assert differences == []


async def test_upgrade_is_idempotent_and_keeps_data(db_url: str) -> None:
    from helmguard.store import ReleaseKey, ReleaseRecord

    async with await open_store(db_url) as store:
        await store.record_release(ReleaseRecord(ReleaseKey("a", "b"), "chart", "1"))
    await upgrade_database(db_url)
    async with await open_store(db_url) as store:
        assert [r.key.name for r in await store.list_releases()] == ["b"]


async def test_a_database_from_a_newer_helmguard_is_refused(db_url: str) -> None:
    await upgrade_database(db_url)
    writer = Backend(resolve(db_url), writer=True)
    try:
        await writer.run(
            lambda c: c.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        )
    finally:
        await writer.dispose()
    with pytest.raises(StoreError, match=r"migration 0099_future, which is newer than this"):
        await open_store(db_url)
    with pytest.raises(StoreError, match="upgrade helmguard"):
        await upgrade_database(db_url)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_cli_db_upgrade_then_current(db_url: str) -> None:
    before = _cli("db", "current", "--db", db_url)
    upgraded = _cli("db", "upgrade", "--db", db_url)
    after = _cli("db", "current", "--db", db_url)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"at migration {HEAD} (head)" in upgraded.stdout
    assert after.exit_code == 0 and "(head)" in after.stdout
    if db_url.startswith("postgresql"):
        assert before.exit_code == 0 and "empty" in before.stdout
    else:
        # `current` never creates a SQLite file.
        assert before.exit_code == 1 and "no helmguard database at" in before.output


async def test_a_database_at_0001_is_upgraded_in_place_keeping_its_data(db_url: str) -> None:
    from alembic import command

    from helmguard.store import ReleaseKey
    from helmguard.store.migrate import _config

    target = resolve(db_url)
    backend = Backend(target, writer=True)
    try:
        await backend.run(lambda c: command.upgrade(_config(c), "0001_initial"))
        await backend.run(
            lambda c: c.execute(
                text(
                    "INSERT INTO releases (cluster, namespace, name, chart, chart_version, "
                    "status, updated_at) VALUES ('', 'a', 'b', 'chart', '1', 'Ready', "
                    "'2026-12-01 00:00:00')"
                )
            )
        )
    finally:
        await backend.dispose()
    assert (await database_revision(db_url))[1] == "0001_initial"
    async with await open_store(db_url) as store:
        assert [r.key for r in await store.list_releases()] == [ReleaseKey("a", "b")]
        assert await store.sync_heartbeat() is None
        await store.release_sync("", await store.acquire_sync())
    assert (await database_revision(db_url))[1] == HEAD
