"""`helmguard repo add|list|update|remove`: the chart catalogue's repositories, in the store.

Like `helm repo`, but kept in helmguard's store (shared with `serve`'s page); a password or
token is read from stdin only and stored sealed (see `helmguard.chart.repos`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from helmguard.cli.db import _DB_OPTION

if TYPE_CHECKING:
    from helmguard.store import Store

T = TypeVar("T")


def _run(url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` on the store; what the user got wrong exits 2 with the message."""
    from helmguard.chart.source import ChartError
    from helmguard.store import StoreError, open_store

    async def main() -> T:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (ChartError, StoreError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None


@click.group("repo")
def repo() -> None:
    """Register Helm chart repositories and OCI registries for the catalogue."""


@repo.command("add")
@click.argument("name")
@click.argument("repo_url", metavar="URL")
@click.option("--username", default="", help="User name for basic authentication.")
@click.option("--password-stdin", is_flag=True, help="Read the password (basic auth) from stdin.")
@click.option("--token-stdin", is_flag=True, help="Read a bearer token from stdin.")
@click.option("--ca-file", default="", help="CA bundle to verify the repository's TLS with.")
@click.option(
    "--insecure-skip-tls-verify", is_flag=True, help="Do not verify TLS (test servers only)."
)
@_DB_OPTION
def add(
    name: str,
    repo_url: str,
    username: str,
    password_stdin: bool,
    token_stdin: bool,
    ca_file: str,
    insecure_skip_tls_verify: bool,
    url: str | None,
) -> None:
    """Register repository NAME at URL (https://… with an index.yaml, or oci://host/path)
    and read its index."""
    from helmguard.chart import repos

    if password_stdin and token_stdin:
        raise click.UsageError("--password-stdin and --token-stdin exclude each other")
    secret = sys.stdin.read().strip() if password_stdin or token_stdin else ""
    if (password_stdin or token_stdin) and not secret:
        raise click.UsageError("stdin was empty: pipe the password or token in")

    async def work(store: Store) -> str:
        record = repos.new_repository(
            name,
            repo_url,
            username=username,
            password=secret if password_stdin else "",
            token=secret if token_stdin else "",
            ca_file=ca_file,
            insecure=insecure_skip_tls_verify,
        )
        added = await repos.add(store, record)
        charts = repos.public_view(added)["charts"]
        return f'"{name}" has been added ({added.kind}, {charts} charts)'

    click.echo(_run(url, work))


@repo.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@_DB_OPTION
def list_command(output: str, url: str | None) -> None:
    """The registered repositories (credentials are never shown: only which kind is set)."""
    from helmguard.chart import repos

    async def work(store: Store) -> list[dict[str, object]]:
        return [repos.public_view(r) for r in await store.list_repositories(with_index=True)]

    views = _run(url, work)
    if output == "json":
        click.echo(json.dumps(views))
        return
    if not views:
        click.echo("no repositories registered (helmguard repo add NAME URL)")
        return
    from helmguard.cli.releases import _table

    rows = [
        [v["name"], v["url"], v["kind"], v["auth"], v["charts"], v["updated_at"] or "never"]
        for v in views
    ]
    click.echo(_table(["NAME", "URL", "KIND", "AUTH", "CHARTS", "UPDATED"], rows), nl=False)


@repo.command("update")
@click.argument("name", required=False)
@_DB_OPTION
def update(name: str | None, url: str | None) -> None:
    """Read the index of NAME (default: every Helm repository) again."""
    from helmguard.chart import repos

    async def work(store: Store) -> list[tuple[str, int]]:
        return await repos.update(store, name)

    updated = _run(url, work)
    for repo_name, charts in updated:
        click.echo(
            f'...Successfully got an update from the "{repo_name}" chart repository '
            f"({charts} charts)"
        )
    if not updated:
        click.echo("no Helm repositories to update")


@repo.command("remove")
@click.argument("name")
@_DB_OPTION
def remove(name: str, url: str | None) -> None:
    """Forget repository NAME, its credentials and its cached index."""
    from helmguard.chart import repos

    async def work(store: Store) -> bool:
        repos.check_name(name)
        return await store.remove_repository(name)

    if not _run(url, work):
        click.echo(f"Error: no repository named {name!r}", err=True)
        raise SystemExit(2)
    click.echo(f'"{name}" has been removed')
