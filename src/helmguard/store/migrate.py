"""Run the shipped Alembic migrations on a live connection: no alembic.ini, no CLI needed.

Every start checks the database's revision with one query against `HEAD`; Alembic itself
(a tenth of a second to import and read its scripts) is loaded only when a migration has
to run or an unknown revision has to be explained.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from helmguard.store.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration in MIGRATIONS (tests check it against Alembic's own view of the head).
HEAD = "0008_cluster_secrets"
# Any constant shared by every helmguard: replicas starting together migrate one at a time.
_PG_MIGRATION_LOCK = 0x68656C6D


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _stored_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at, None for an empty database; refuses unknown ones."""
    current = _stored_revision(connection)
    if current is None or current == HEAD:
        return current
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory.from_config(_config())
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise StoreError(
            f"the database is at migration {current}, which is newer than this helmguard "
            f"(it knows up to {HEAD}); upgrade helmguard, or use another --db"
        )
    return current


def upgrade(connection: Connection) -> str:
    """Bring the database to the head migration inside the caller's transaction; return head."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    if current_revision(connection) == HEAD:
        return HEAD
    from alembic import command

    command.upgrade(_config(connection), "head")
    return HEAD
