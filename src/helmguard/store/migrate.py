"""Run the shipped Alembic migrations on a live connection: no alembic.ini, no CLI needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from helmguard.store.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant shared by every helmguard: replicas starting together migrate one at a time.
_PG_MIGRATION_LOCK = 0x68656C6D


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this helmguard ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at, None for an empty database; refuses unknown ones."""
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return None
    script = ScriptDirectory.from_config(_config())
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise StoreError(
            f"the database is at migration {current}, which is newer than this helmguard "
            f"(it knows up to {head_revision()}); upgrade helmguard, or use another --db"
        )
    return current


def upgrade(connection: Connection) -> str:
    """Bring the database to the head migration inside the caller's transaction; return head."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    current_revision(connection)
    command.upgrade(_config(connection), "head")
    return head_revision()
