"""`helmguard serve`: the sync for every managed release, plus the HTTP API and page."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from helmguard.cli.election import ElectionOptions, election_options
from helmguard.cli.options import context_option, db_option, kubeconfig_option, run_async

if TYPE_CHECKING:
    from helmguard.kube.config import ClusterConfig
    from helmguard.sync.supervisor import Readiness


@click.command("serve")
@db_option
@kubeconfig_option
@context_option
@click.option("--no-api", is_flag=True, help="Run only the sync, without the HTTP API and page.")
@click.option("--host", default="127.0.0.1", show_default=True, help="API listen address.")
@click.option("--port", default=8080, show_default=True, help="API listen port.")
@click.option(
    "--public-read", is_flag=True, help="Let reads through without the token (writes need it)."
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host header value the API accepts (repeatable). On a loopback address the "
    "address and localhost names are always accepted, other names only if listed.",
)
@click.option(
    "--cluster-grace",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the cluster may be unreachable before /readyz reports not ready "
    "(default: helmguard.sync.supervisor.GRACE_SECONDS, 30).",
)
@click.option("--read-only", is_flag=True, help="Offer no deploys, rollbacks or uninstalls.")
@election_options
@click.option("-v", "--verbose", is_flag=True, help="Log informer and sync activity.")
def serve(
    url: str | None,
    kubeconfig: str | None,
    context: str | None,
    no_api: bool,
    host: str,
    port: int,
    public_read: bool,
    allowed_hosts: tuple[str, ...],
    cluster_grace: float | None,
    read_only: bool,
    election: ElectionOptions,
    verbose: bool,
) -> None:
    """Run the sync for every managed release, plus the API (`helmguard.api`) unless --no-api.

    One sync per cluster and store: a second `serve` on the same store and cluster stops,
    naming the first; CLI commands share the store with a running `serve`. A cluster that
    cannot be reached does not stop it: the API and page are served, the cluster's releases
    are stored Unknown with the reason, and it reconnects with backoff. With --leader-elect,
    replicas on one store sync the cluster in turn: the one holding its Lease.
    """
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    api = None
    if not no_api:
        from helmguard.api.app import default_allowed_hosts
        from helmguard.api.auth import TokenError, load_or_create_token

        try:
            token = load_or_create_token()
        except (TokenError, PermissionError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        hosts = default_allowed_hosts(host, allowed_hosts)
        api = _ApiSettings(
            host, port, public_read, token, tuple(hosts) if hosts else None, not read_only
        )
    from helmguard.kube.config import load_config
    from helmguard.kube.errors import KubeConfigError
    from helmguard.sync.supervisor import GRACE_SECONDS

    try:
        config = load_config(kubeconfig, context)  # a wrong kubeconfig is bad input: exit 2
    except KubeConfigError as exc:
        click.echo(f"error: {exc.explain()}", err=True)
        raise SystemExit(2) from None
    grace = GRACE_SECONDS if cluster_grace is None else cluster_grace
    run_async(_serve(url, config, kubeconfig, context, api, grace, election))


@dataclass(frozen=True)
class _ApiSettings:
    host: str
    port: int
    public_read: bool
    token: str = field(repr=False)
    allowed_hosts: tuple[str, ...] | None
    deploys: bool = True


async def _serve(
    url: str | None,
    config: ClusterConfig,
    kubeconfig: str | None,
    context: str | None,
    api: _ApiSettings | None,
    grace: float,
    election: ElectionOptions,
) -> None:
    from helmguard.deploy.recover import recover
    from helmguard.kube.client import Kube, connect_config
    from helmguard.store import open_store
    from helmguard.sync.replica import ElectedSupervisor, Election
    from helmguard.sync.supervisor import ClusterSupervisor

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = await open_store(url)
    announce: Callable[[str], None] = lambda line: click.echo(line, err=True)  # noqa: E731

    async def settle_dead(kube: Kube) -> None:
        # Operations whose process died (a crash of an earlier serve) become interrupted.
        await recover(kube, store, announce=announce)

    def supervisor() -> ClusterSupervisor:
        return ClusterSupervisor(
            lambda: connect_config(config, verify=False),
            store,
            name=str(config.target),
            grace=grace,
            announce=announce,
            on_connect=settle_dead,
            elected=election.enabled,
        )

    try:
        runner: ClusterSupervisor | ElectedSupervisor
        if election.enabled:
            where = Election(
                election.namespace or config.target.namespace,
                election.lease_name,
                timings=election.timings,
            )
            runner = ElectedSupervisor(
                lambda: connect_config(config, verify=False),
                supervisor,
                where,
                name=str(config.target),
                announce=announce,
            )
        else:
            runner = supervisor()
        click.echo(f"serve: {config.target}; store {store.url}", err=True)
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(runner.run()),
        ]
        if api is not None:
            tasks.append(
                asyncio.create_task(_api(store, kubeconfig, context, api, runner.readiness, stop))
            )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if api is not None:
                await asyncio.wait(tasks[2:], timeout=10)  # the API shuts down by itself
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await store.close()


async def _api(
    store: Any,
    kubeconfig: str | None,
    context: str | None,
    api: _ApiSettings,
    readiness: Callable[[], Readiness],
    stop: asyncio.Event,
) -> None:
    import sys

    import uvicorn

    from helmguard.api.app import create_app
    from helmguard.api.auth import ENV_VAR, token_path
    from helmguard.deploy import DeployOptions
    from helmguard.kube.client import connect

    factory: Callable[[], Awaitable[Any]] = lambda: connect(kubeconfig, context)  # noqa: E731
    app = create_app(
        store,
        token=api.token,
        public_read=api.public_read,
        kube_factory=factory,
        deploy_options=DeployOptions(kubeconfig=kubeconfig, context=context)
        if api.deploys
        else None,
        allowed_hosts=api.allowed_hosts,
        cluster_ready=readiness,
    )
    # Open event streams would otherwise hold a shutdown forever.
    config = uvicorn.Config(
        app, host=api.host, port=api.port, log_level="warning", timeout_graceful_shutdown=2
    )
    where = f"http://{api.host}:{api.port}/"
    if sys.stderr.isatty():
        # Shown once, to the person at the terminal; never into a log stream.
        click.echo(f"serve: dashboard on {where}#token={api.token}", err=True)
    else:
        origin = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else str(token_path())
        click.echo(f"serve: dashboard on {where} (the token is in {origin})", err=True)
    server = uvicorn.Server(config)

    async def stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True  # a graceful shutdown, lifespan included

    watcher = asyncio.create_task(stop_when_asked())
    try:
        await server.serve()
    finally:
        watcher.cancel()
