"""`helmguard cluster add|list|remove`: the clusters `serve` syncs and `--cluster` addresses.

The registry is in the store: a name (a DNS-1123 label), a kubeconfig file and a context
of it, or the NAMESPACE/NAME of a Secret in the cluster helmguard runs in holding the
connection (kube/secretconfig.py); the credentials stay in the kubeconfig (in a pod: a
file mounted from a Secret) or that Secret, never in the database. The default cluster,
key "" in the store, is the kubeconfig context in use (--kubeconfig/--kube-context,
KUBECONFIG, ~/.kube/config or in-cluster), as before any cluster was registered. `serve
--cluster NAME` reads the registry when it starts; `serve --all-clusters` follows it while
it runs (`helmguard.sync.fleet`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from helmguard.cli.options import db_option

if TYPE_CHECKING:
    from helmguard.store import Store

T = TypeVar("T")


def _fail(message: str) -> SystemExit:
    click.echo(f"Error: {message}", err=True)
    return SystemExit(2)


def _run(url: str | None, work: Callable[[Store], Awaitable[T]], *, read_only: bool = False) -> T:
    from helmguard.clusters import RegistrationError
    from helmguard.store import StoreError, open_store

    async def main() -> T:
        async with await open_store(url, read_only=read_only) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except (StoreError, RegistrationError) as exc:
        raise _fail(str(exc)) from None


@click.group("cluster")
def cluster() -> None:
    """Register the clusters `serve` syncs and `--cluster NAME` reaches (kubeconfig contexts)."""


@cluster.command("add")
@click.argument("name")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="The kubeconfig file with the cluster's context and credentials (its path is stored).",
)
@click.option(
    "--secret",
    metavar="NAMESPACE/NAME",
    help="A Secret in the cluster helmguard runs in (the kubeconfig context in use) that "
    "holds the connection: a kubeconfig under `kubeconfig`, or `server`, `token` and "
    "`ca.crt`. Only its name is stored; serve reads and watches it.",
)
@click.option(
    "--context",
    help="The kubeconfig context to use (default: the kubeconfig's current-context; of a "
    "file it is stored by name).",
)
@db_option
def add(
    name: str, kubeconfig: str | None, secret: str | None, context: str | None, url: str | None
) -> None:
    """Register cluster NAME: a context of a kubeconfig file, or a Secret holding its
    connection. The file or Secret is read now (the context must exist in it); the cluster
    itself need not answer yet."""
    from helmguard.clusters import (
        RegistrationError,
        checked_cluster,
        checked_secret_cluster,
        register,
    )

    if (kubeconfig is None) == (secret is None):
        raise _fail(
            "give one of --kubeconfig FILE (a context of a kubeconfig file) and --secret "
            "NAMESPACE/NAME (a Secret holding the connection)"
            + (", not both" if kubeconfig is not None else "")
        )
    try:
        if secret is not None:
            from helmguard.kube.client import connect

            record, config = asyncio.run(
                checked_secret_cluster(name, secret, context, lambda: connect(None, None))
            )
        else:
            assert kubeconfig is not None
            record, config = checked_cluster(name, kubeconfig, context)
    except RegistrationError as exc:
        raise _fail(str(exc)) from None
    _run(url, lambda store: register(store, record))
    if record.secret:
        click.echo(f'cluster "{name}" added: {record.where} ({config.target.server})')
    else:
        click.echo(
            f'cluster "{name}" added: context {record.context!r} ({config.target.server}) '
            f"of {record.kubeconfig}"
        )


@cluster.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@db_option
def list_command(output: str, url: str | None) -> None:
    """The registered clusters, with how many releases the store holds for each."""

    async def work(store: Store) -> list[dict[str, object]]:
        clusters = await store.list_clusters()
        counts: dict[str, int] = {}
        for release in await store.list_releases():
            counts[release.key.cluster] = counts.get(release.key.cluster, 0) + 1
        return [
            {
                "name": c.name,
                "context": c.context,
                "kubeconfig": c.kubeconfig,
                "secret": c.secret,
                "releases": counts.get(c.name, 0),
                "added_at": c.added_at.isoformat(timespec="seconds") if c.added_at else None,
            }
            for c in clusters
        ]

    views = _run(url, work)
    if output == "json":
        click.echo(json.dumps(views))
        return
    if not views:
        click.echo(
            "no clusters registered (helmguard cluster add NAME --kubeconfig FILE --context C); "
            "commands use the kubeconfig context in use"
        )
        return
    from helmguard.cli.releases import _table

    rows = [
        [
            v["name"],
            v["context"],
            f"Secret {v['secret']}" if v["secret"] else v["kubeconfig"],
            v["releases"],
            v["added_at"],
        ]
        for v in views
    ]
    click.echo(_table(["NAME", "CONTEXT", "CONNECTION", "RELEASES", "ADDED"], rows), nl=False)


@cluster.command("remove")
@click.argument("name")
@click.option(
    "--forget-releases",
    is_flag=True,
    help="Also delete what the store holds about the cluster's releases (not the releases).",
)
@db_option
def remove(name: str, forget_releases: bool, url: str | None) -> None:
    """Forget cluster NAME. Refused while the store holds releases of it, unless
    --forget-releases: their stored status would no longer be kept true."""
    from helmguard.clusters import unregister

    _run(url, lambda store: unregister(store, name, forget_releases=forget_releases))
    click.echo(f'cluster "{name}" removed')
