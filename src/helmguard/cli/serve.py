"""`helmguard serve`: the sync for every managed release, plus the HTTP API and page.

One file past 400 lines: its flags (clusters, election, discovery, tokens, timings), their
checks (every bad one exits 2 before anything starts) and the start-up that wires the
fleet, the replica and the API share one set of parsed options.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click

from helmguard.cli.election import ElectionOptions, election_options
from helmguard.cli.options import (
    SECRETS_NAMESPACE_ENV,
    context_option,
    db_option,
    kubeconfig_option,
    pod_namespace,
    run_async,
)

if TYPE_CHECKING:
    from helmguard.deploy import DeployOptions
    from helmguard.kube.config import ClusterConfig
    from helmguard.store import ClusterRecord, Store
    from helmguard.sync.fleet import Fleet
    from helmguard.sync.replica import ElectedSupervisor
    from helmguard.sync.supervisor import ClusterSupervisor


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
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    metavar="NAME",
    help="Also sync this registered cluster (helmguard cluster add; repeatable).",
)
@click.option(
    "--all-clusters",
    is_flag=True,
    help="Also sync every cluster registered in the store, following `cluster add` and "
    "`cluster remove` while serve runs.",
)
@click.option(
    "--no-default-cluster",
    is_flag=True,
    help="Do not sync the kubeconfig context in use (the default cluster): only --cluster "
    "or --all-clusters ones.",
)
@click.option(
    "--cluster-secrets-namespace",
    "secrets_namespace",
    metavar="NAMESPACE",
    envvar=SECRETS_NAMESPACE_ENV,
    help="Also sync, as a cluster each, the Secrets labelled helmguard.io/cluster=true in "
    'this namespace of the cluster serve runs in, followed while serve runs ("": none). '
    f"Default: ${SECRETS_NAMESPACE_ENV}, else the pod's namespace in-cluster, else none.",
)
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
    clusters: tuple[str, ...],
    all_clusters: bool,
    no_default_cluster: bool,
    secrets_namespace: str | None,
    election: ElectionOptions,
    verbose: bool,
) -> None:
    """Run the sync for every managed release, plus the API (`helmguard.api`) unless --no-api.

    One sync per cluster and store: a second `serve` on the same store and cluster stops,
    naming the first; CLI commands share the store with a running `serve`. A cluster that
    cannot be reached does not stop it: the API and page are served, the cluster's releases
    are stored Unknown with the reason, and it reconnects with backoff. With --leader-elect,
    replicas on one store sync the cluster in turn: the one holding its Lease.

    Several clusters: the default one (the kubeconfig context in use, key "" in the
    store) unless --no-default-cluster, plus each --cluster NAME (or --all-clusters)
    registered with `helmguard cluster add`; each has its own sync, sync lease, Lease
    (with --leader-elect: in that cluster, named helmguard-sync-NAME) and readiness.
    --all-clusters follows the registry while serve runs: clusters added are synced,
    clusters removed stop being synced. A cluster registered with --secret is reached
    through the Secret, watched in the cluster serve runs in (the default cluster's
    kubeconfig context): a changed Secret is used at once, a deleted one turns the
    cluster's releases Unknown naming it. Secrets labelled helmguard.io/cluster=true in
    --cluster-secrets-namespace are discovered as clusters (named by their `name` key, else
    their own name): one labelled is synced at once, one deleted stops, its releases Unknown.
    """
    if all_clusters and clusters:
        _usage("--all-clusters already syncs every registered cluster: drop --cluster")
    if no_default_cluster and (kubeconfig is not None or context is not None):
        _usage(
            "--kubeconfig/--kube-context choose the default cluster: not with --no-default-cluster"
        )
    if secrets_namespace is None:
        secrets_namespace = pod_namespace()
    elif secrets_namespace:
        from helmguard.kube.secretconfig import secret_ref

        try:
            secret_ref(f"{secrets_namespace}/x")
        except ValueError:
            _usage(f"--cluster-secrets-namespace {secrets_namespace!r} is not a namespace name")
    if no_default_cluster and not (clusters or all_clusters or secrets_namespace):
        _usage(
            "--no-default-cluster leaves nothing to sync: add --cluster NAME, --all-clusters "
            "or --cluster-secrets-namespace"
        )
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
    from helmguard.sync.supervisor import GRACE_SECONDS

    default = None if no_default_cluster else _served("", kubeconfig, context)
    grace = GRACE_SECONDS if cluster_grace is None else cluster_grace
    wanted = None if all_clusters else clusters
    run_async(_serve(url, default, wanted, api, grace, election, secrets_namespace or None))


def _usage(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(2)


@dataclass(frozen=True)
class _Cluster:
    """One cluster serve syncs: its key in the store and how to reach it."""

    key: str  # "" the default cluster
    config: ClusterConfig
    kubeconfig: str | None
    context: str | None

    @property
    def name(self) -> str:
        return f"cluster {self.key} ({self.config.target})" if self.key else str(self.config.target)

    def deploy_options(self) -> DeployOptions:
        from helmguard.deploy import DeployOptions

        return DeployOptions(kubeconfig=self.kubeconfig, context=self.context, cluster=self.key)


def _served(key: str, kubeconfig: str | None, context: str | None) -> _Cluster:
    """A cluster's configuration, read now: a wrong kubeconfig is bad input (exit 2)."""
    from helmguard.kube.errors import KubeConfigError

    try:
        return _load(key, kubeconfig, context)
    except KubeConfigError as exc:
        where = f"cluster {key}: " if key else ""
        click.echo(f"error: {where}{exc.explain()}", err=True)
        raise SystemExit(2) from None


def _home_config(why: str) -> ClusterConfig:
    """The cluster serve runs in, where cluster Secrets are, when serve has no default
    cluster: the kubeconfig context in use (KUBECONFIG, ~/.kube/config, in-cluster).
    Raises KubeConfigError saying `why` it is needed when there is none."""
    from helmguard.kube.config import load_config
    from helmguard.kube.errors import KubeConfigError

    try:
        return load_config()
    except KubeConfigError as exc:
        raise KubeConfigError(
            f"{why}, and there is no cluster to read it from: {exc.message}",
            fix=exc.fix,
        ) from None


def _in_secret(record: ClusterRecord) -> str:
    return f"cluster {record.name}'s connection is in Secret {record.secret}"


def _load(key: str, kubeconfig: str | None, context: str | None) -> _Cluster:
    from helmguard.kube.config import load_config

    return _Cluster(key, load_config(kubeconfig, context), kubeconfig, context)


async def _registered(store: Store, wanted: tuple[str, ...] | None) -> list[ClusterRecord]:
    """The registered clusters asked for (None: all of them); an unknown name exits 2."""
    known = {c.name: c for c in await store.list_clusters()}
    names = sorted(known) if wanted is None else list(dict.fromkeys(wanted))
    missing = [n for n in names if n not in known]
    if missing:
        _usage(
            f"cluster {missing[0]!r} is not registered in {store.url}; registered: "
            f"{', '.join(sorted(known)) or 'none (helmguard cluster add NAME --kubeconfig …)'}"
        )
    return [known[n] for n in names]


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
    default: _Cluster | None,
    wanted: tuple[str, ...] | None,
    api: _ApiSettings | None,
    grace: float,
    election: ElectionOptions,
    secrets_namespace: str | None = None,
) -> None:
    from helmguard.store import open_store
    from helmguard.sync.fleet import Fleet, follow_registry
    from helmguard.sync.replica import replica_identity

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = await open_store(url)
    announce: Callable[[str], None] = lambda line: click.echo(line, err=True)  # noqa: E731
    identity = replica_identity()  # one replica: the same holderIdentity in every Lease
    fleet = Fleet()
    # Per cluster key: how the API deploys to it; the registry's follower keeps it current.
    deploys: dict[str, DeployOptions] = {}

    def start(cluster: _Cluster) -> None:
        fleet.start(cluster.key, _runner(cluster, store, grace, election, identity, announce))
        if api is not None and api.deploys:
            deploys[cluster.key] = cluster.deploy_options()
        click.echo(f"serve: {cluster.name}; store {store.url}", err=True)

    home: list[ClusterConfig] = [] if default is None else [default.config]

    def start_secret(record: ClusterRecord) -> None:
        """A cluster whose connection is in a Secret of the cluster serve runs in: the
        runner follows the Secret; the API deploys with the connection it follows."""
        from helmguard.deploy import DeployOptions
        from helmguard.kube.client import connect_config
        from helmguard.kube.config import hold_connection
        from helmguard.kube.secretconfig import held_name
        from helmguard.sync.secret_cluster import SecretCluster

        if not home:
            home.append(_home_config(_in_secret(record)))

        def sync(config: ClusterConfig) -> ClusterSupervisor | ElectedSupervisor:
            cluster = _Cluster(record.name, config, None, None)
            return _runner(cluster, store, grace, election, identity, announce)

        runner = SecretCluster(
            lambda: connect_config(home[0], verify=False),
            record.secret,
            sync,
            store=store,
            cluster=record.name,
            context=record.context or None,
            grace=grace,
            announce=announce,
        )
        fleet.start(record.name, runner)
        held = held_name(record.name, record.secret)
        hold_connection(held, runner.connection)
        if api is not None and api.deploys:
            deploys[record.name] = DeployOptions(kubeconfig=held, cluster=record.name)
        click.echo(f"serve: {runner.name}, following it; store {store.url}", err=True)

    def registered(record: ClusterRecord) -> bool:
        from helmguard.kube.errors import KubeConfigError

        if record.secret:
            try:
                start_secret(record)
            except KubeConfigError as exc:
                announce(
                    f"serve: cluster {record.name} is registered but not synced: {exc.explain()}"
                )
                return False
            return True
        try:
            cluster = _load(record.name, record.kubeconfig, record.context)
        except KubeConfigError as exc:
            announce(f"serve: cluster {record.name} is registered but not synced: {exc.explain()}")
            return False
        start(cluster)
        return True

    def forget(name: str) -> None:
        from helmguard.kube.config import release_connection

        options = deploys.pop(name, None)
        if options is not None and options.kubeconfig is not None:
            release_connection(options.kubeconfig)

    def removed(name: str) -> None:
        forget(name)
        announce(f"serve: cluster {name} is no longer registered: its sync stopped")

    def discovered(name: str, secret: str) -> str:
        from helmguard.store import ClusterRecord

        if name in fleet:
            return f"cluster {name} is synced already (registered, or the default cluster)"
        start_secret(ClusterRecord(name, "", "", secret=secret))
        return ""

    async def undiscovered(name: str) -> None:
        await fleet.stop(name)
        forget(name)

    try:
        records = await _registered(store, wanted) if wanted != () else []
        # Every kubeconfig read before any sync starts: a wrong one exits 2 with nothing run.
        served = [_served(r.name, r.kubeconfig, r.context) for r in records if not r.secret]
        in_secrets = [r for r in records if r.secret]
        if (in_secrets or secrets_namespace) and not home:
            from helmguard.kube.errors import KubeConfigError

            why = (
                _in_secret(in_secrets[0])
                if in_secrets
                else f"--cluster-secrets-namespace {secrets_namespace} names cluster Secrets"
            )
            try:
                home.append(_home_config(why))
            except KubeConfigError as exc:
                _usage(exc.explain())
        for cluster in [default, *served] if default is not None else served:
            start(cluster)
        for record in in_secrets:
            start_secret(record)
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(fleet.wait()),
        ]
        if wanted is None:  # --all-clusters: clusters added and removed while serve runs too
            if not records:
                announce(f"serve: no cluster registered in {store.url} yet; following the registry")
            followed = {r.name: r for r in records}
            follow = follow_registry(
                fleet, store.list_clusters, registered, removed, followed=followed
            )
            tasks.append(asyncio.create_task(follow))
        if secrets_namespace:
            from helmguard.kube.client import connect_config
            from helmguard.sync.secret_discovery import SELECTOR, SecretDiscovery

            discovery = SecretDiscovery(
                lambda: connect_config(home[0], verify=False),
                secrets_namespace,
                discovered,
                undiscovered,
                store=store,
                announce=announce,
            )
            tasks.append(asyncio.create_task(discovery.run()))
            announce(f"serve: syncing the Secrets {SELECTOR} in namespace {secrets_namespace}")
        if api is not None:
            tasks.append(asyncio.create_task(_api(store, default, deploys, api, fleet, stop)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if api is not None:
                await asyncio.wait(tasks[-1:], timeout=10)  # the API shuts down by itself
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await fleet.close()
    finally:
        await store.close()


def _runner(
    cluster: _Cluster,
    store: Store,
    grace: float,
    election: ElectionOptions,
    identity: str,
    announce: Callable[[str], None],
) -> ClusterSupervisor | ElectedSupervisor:
    """The sync of one cluster: a supervisor, or one run only while holding its Lease."""
    from helmguard.deploy.recover import recover
    from helmguard.kube.client import Kube, connect_config
    from helmguard.sync.replica import ElectedSupervisor, Election
    from helmguard.sync.supervisor import ClusterSupervisor

    options = cluster.deploy_options()

    async def settle_dead(kube: Kube) -> None:
        # Operations whose process died (a crash of an earlier serve) become interrupted.
        await recover(kube, store, options=options, announce=announce)

    def connect() -> Awaitable[Kube]:
        return connect_config(cluster.config, verify=False)

    def supervisor() -> ClusterSupervisor:
        return ClusterSupervisor(
            connect,
            store,
            name=cluster.name,
            cluster=cluster.key,
            grace=grace,
            announce=announce,
            on_connect=settle_dead,
            elected=election.enabled,
        )

    if not election.enabled:
        return supervisor()
    # Each cluster's Lease is in that cluster; the default cluster's keeps its name.
    lease = f"{election.lease_name}-{cluster.key}" if cluster.key else election.lease_name
    namespace = election.namespace or cluster.config.target.namespace
    where = Election(namespace, lease, identity, timings=election.timings)
    return ElectedSupervisor(
        connect,
        supervisor,
        where,
        store=store,
        cluster=cluster.key,
        name=cluster.name,
        grace=grace,
        announce=announce,
    )


async def _api(
    store: Any,
    default: _Cluster | None,
    deploys: dict[str, DeployOptions],
    api: _ApiSettings,
    fleet: Fleet,
    stop: asyncio.Event,
) -> None:
    import sys

    import uvicorn

    from helmguard.api.app import create_app
    from helmguard.api.auth import ENV_VAR, token_path
    from helmguard.kube.client import connect

    factory: Callable[[], Awaitable[Any]] | None = None
    if default is not None:
        factory = lambda: connect(default.kubeconfig, default.context)  # noqa: E731
    # Deploys, rollbacks and uninstalls reach the cluster the request names (?cluster=);
    # `deploys` is serve's own mapping, following the clusters it syncs.
    app = create_app(
        store,
        token=api.token,
        public_read=api.public_read,
        kube_factory=factory,
        deploy_options=deploys.get(""),
        cluster_deploys=deploys,
        allowed_hosts=api.allowed_hosts,
        cluster_ready=fleet.readiness,
        cluster_leaderless=fleet.leaderless,
        read_only=not api.deploys,
    )
    # Streams end when serve stops (below); a client holding any other connection open must
    # not hold the shutdown for more than 2 s.
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
        app.state.feed.end_streams()  # an open page's stream would hold the shutdown
        server.should_exit = True  # a graceful shutdown, lifespan included

    watcher = asyncio.create_task(stop_when_asked())
    try:
        await server.serve()
    finally:
        watcher.cancel()
