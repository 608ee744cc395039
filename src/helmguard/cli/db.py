"""`helmguard db upgrade|current`: create, migrate and inspect helmguard's database."""

from __future__ import annotations

import asyncio

import click

from helmguard.cli.options import db_option
from helmguard.store.db import database_revision, upgrade_database
from helmguard.store.errors import StoreError


@click.group("db")
def db() -> None:
    """Manage helmguard's database (SQLite file or PostgreSQL)."""


@db.command("upgrade")
@db_option
def upgrade(url: str | None) -> None:
    """Create the database or migrate it to this helmguard's schema."""
    try:
        where, revision = asyncio.run(upgrade_database(url))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{where}: at migration {revision} (head)")


@db.command("current")
@db_option
def current(url: str | None) -> None:
    """Show which migration the database is at, without changing it."""
    try:
        where, revision, head = asyncio.run(database_revision(url))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if revision is None:
        state = f"empty; run `helmguard db upgrade` to create the schema ({head})"
    elif revision == head:
        state = f"at migration {revision} (head)"
    else:
        state = f"at migration {revision}; head is {head}, run `helmguard db upgrade`"
    click.echo(f"{where}: {state}")
