"""`helmguard status|watch|history|events|manage|serve`: the sync's state, and the sync itself.

Reads (`status`, `watch`, `history`, `events`) open the store read-only, so they work while
`serve` writes. `status` is the `status` action (helmguard.deploy.status): the store while a
sync feeds it, else the cluster read now from the release's inventory, and it says which;
`status --live` always reads the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.store.db import ENV_VAR

if TYPE_CHECKING:
    from helmguard.kube.client import ClusterConfig
    from helmguard.sync.supervisor import ClusterSupervisor

T = TypeVar("T")

_db = click.option(
    "--db",
    "url",
    envvar=ENV_VAR,
    metavar="URL",
    help=f"SQLite file, sqlite:///PATH or postgresql+asyncpg://… (default: ${ENV_VAR}, "
    "else helmguard.db in the user data directory).",
)
_ns = click.option(
    "-n", "--namespace", default="default", show_default=True, help="The release's namespace."
)
_kubeconfig = click.option(
    "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)."
)
_context = click.option("--kube-context", "context", help="kubeconfig context to use.")


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine; turn the errors a user can cause into one-line messages."""
    from helmguard.kube.errors import KubeError
    from helmguard.store.errors import StoreError
    from helmguard.sync.selector import SelectorError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (StoreError, SelectorError) as exc:
        raise click.ClickException(str(exc)) from None
    except KubeError as exc:
        raise click.ClickException(exc.explain() if hasattr(exc, "explain") else str(exc)) from None


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line.rstrip(), *body])


def _kind_name(ref: Any) -> str:
    return f"{ref.kind}/{ref.name}"


async def _open_read(url: str | None) -> Any:
    from helmguard.store import open_store

    return await open_store(url, read_only=True)


# ---- status --------------------------------------------------------------------------


@click.command("status")
@click.argument("release", required=False)
@_ns
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@_db
@click.option(
    "--live",
    is_flag=True,
    help="Read the cluster now, whether or not a sync is feeding the store.",
)
@click.option(
    "--selector",
    help="Evaluate the objects this label selector matches (beside any stored inventory).",
)
@_kubeconfig
@_context
def status(
    release: str | None,
    namespace: str,
    output: str,
    url: str | None,
    live: bool,
    selector: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Components of RELEASE with state, reason, since and root cause (all releases if omitted).

    While `helmguard serve` syncs the release, reads what it stored; otherwise (or with
    --live) reads the cluster now, from the objects the release's revisions applied. The
    first line says which. Exits 1 when the release, or every object of it, is not found.
    """
    result = _run(_status(release, namespace, url, live, selector, kubeconfig, context))
    if output == "json":
        click.echo(json.dumps(result, indent=2, default=str))
        _fail_if_not_found(result, release, namespace)
        return
    if release is None:
        rows = [
            [r["namespace"], r["name"], r["state"], r["status"], _when(r["updated_at"])]
            for r in result["releases"]
        ]
        click.echo(_table(rows, ["NAMESPACE", "RELEASE", "STATE", "LAST OPERATION", "UPDATED"]))
        return
    app = result["app"]
    click.echo(f"release {namespace}/{release}: {app['state']} ({result['source']})")
    if app["state"] != "Ready":
        click.echo(f"  {app['reason']}: {app['message']}")
        if app.get("root_cause"):
            click.echo(f"  root cause: {app['root_cause']}")
    rows = [
        [
            m["object"],
            m["state"],
            m["reason"],
            _when(m["since"]),
            m["root_cause"] or "",
            m["message"],
        ]
        for m in result["members"]
    ]
    click.echo(_table(rows, ["OBJECT", "STATE", "REASON", "SINCE", "ROOT CAUSE", "MESSAGE"]))
    _fail_if_not_found(result, release, namespace)


def _fail_if_not_found(result: dict[str, Any], release: str | None, namespace: str) -> None:
    """A release none of whose objects exists is an error, whatever the output format."""
    if release is not None and not result.get("found", True):
        raise click.ClickException(
            f"release {namespace}/{release} not found: {result['app']['message']} "
            f"({result['source']})"
        )


async def _status(
    release: str | None,
    namespace: str,
    url: str | None,
    live: bool,
    selector: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> dict[str, Any]:
    from helmguard.deploy.status import LIVE_TIMEOUT, ReleaseNotFound, release_status
    from helmguard.kube.client import connect
    from helmguard.store import ReleaseKey
    from helmguard.store.errors import StoreError

    if release is None:
        async with await _open_read(url) as store:
            records = await store.list_releases()
        return {
            "releases": [
                {
                    "namespace": r.key.namespace,
                    "name": r.key.name,
                    # The app status serve's sync stored, and what the last operation left.
                    "state": r.app.state if r.app is not None else "Unknown",
                    "status": r.status,
                    "updated_at": r.updated_at,
                }
                for r in records
            ]
        }

    async def open_kube() -> Any:
        return await connect(kubeconfig, context, timeout=LIVE_TIMEOUT)

    key = ReleaseKey(namespace, release)
    try:
        try:
            store = await _open_read(url)
        except StoreError:
            # No store to read (none yet, or unreadable): the cluster is the answer.
            found = await release_status(
                key, store=None, open_kube=open_kube, live=live, selector=selector
            )
        else:
            async with store:
                found = await release_status(
                    key, store=store, open_kube=open_kube, live=live, selector=selector
                )
    except ReleaseNotFound as exc:
        raise click.ClickException(
            f"{exc}; register a release deployed by something else with `helmguard manage "
            f"{release} -n {namespace}`, or name its objects with `--live --selector …`"
        ) from None
    return {
        "source": found.detail,
        "read_from": found.source,
        "found": found.found,
        "app": {
            "state": found.state,
            "reason": found.reason,
            "message": found.message,
            "since": found.since,
            "root_cause": str(found.root_cause) if found.root_cause else None,
        },
        "members": [
            {
                "object": _kind_name(m.ref),
                "ref": str(m.ref),
                "state": m.state,
                "reason": m.reason,
                "message": m.message,
                "since": m.since,
                "observed_at": m.observed_at,
                "root_cause": str(m.root_cause) if m.root_cause else None,
            }
            for m in found.members
        ],
    }


# ---- history, events, watch ----------------------------------------------------------


@click.command("transitions")
@click.argument("release")
@_ns
@_db
@click.option("--limit", default=100, show_default=True, help="How many transitions.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def history(release: str, namespace: str, url: str | None, limit: int, output: str) -> None:
    """RELEASE's status transitions, newest first."""
    from helmguard.store import ReleaseKey

    async def read() -> list[Any]:
        async with await _open_read(url) as store:
            return list(await store.history(ReleaseKey(namespace, release), limit=limit))

    items = _run(read())
    if output == "json":
        click.echo(json.dumps([_transition(t) for t in items], indent=2, default=str))
        return
    click.echo(
        _table(
            [
                [
                    _when(t.at),
                    _kind_name(t.ref),
                    f"{t.from_state or '-'} -> {t.to_state}",
                    t.reason,
                    str(t.root_cause or ""),
                    t.message,
                ]
                for t in items
            ],
            ["AT", "OBJECT", "CHANGE", "REASON", "ROOT CAUSE", "MESSAGE"],
        )
    )


def _transition(t: Any) -> dict[str, Any]:
    return {
        "at": t.at,
        "object": str(t.ref),
        "from": t.from_state,
        "to": t.to_state,
        "reason": t.reason,
        "message": t.message,
        "root_cause": str(t.root_cause) if t.root_cause else None,
    }


@click.command("events")
@click.argument("release")
@_ns
@_db
@click.option("--limit", default=100, show_default=True)
def events(release: str, namespace: str, url: str | None, limit: int) -> None:
    """Kubernetes Events about RELEASE's objects that the sync stored, most recent first."""
    from helmguard.store import ReleaseKey

    async def read() -> list[Any]:
        async with await _open_read(url) as store:
            return list(await store.events(ReleaseKey(namespace, release), limit=limit))

    items = _run(read())
    click.echo(
        _table(
            [
                [_when(e.last_seen), e.type, e.reason, _kind_name(e.ref), str(e.count), e.message]
                for e in items
            ],
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"],
        )
    )


@click.command("watch")
@click.argument("release")
@_ns
@_db
@click.option("--interval", default=0.5, show_default=True, help="Seconds between store reads.")
def watch(release: str, namespace: str, url: str | None, interval: float) -> None:
    """Print RELEASE's status transitions as `serve` stores them (Ctrl-C to stop)."""
    from helmguard.store import ReleaseKey

    key = ReleaseKey(namespace, release)

    async def follow() -> None:
        seen: set[tuple[Any, ...]] = set()
        first = True
        async with await _open_read(url) as store:
            if await store.get_release(key) is None:
                raise click.ClickException(f"release {key} is not in the store")
            while True:
                batch = list(reversed(await store.history(key, limit=500)))
                for t in batch:
                    ident = (t.ref, t.at, t.from_state, t.to_state, t.reason, t.message)
                    if ident in seen:
                        continue
                    seen.add(ident)
                    if first and t is not batch[-1] and len(batch) > 20:
                        continue  # start with the recent past, not all of history
                    click.echo(
                        f"{_when(t.at)}  {_kind_name(t.ref)}  {t.from_state or '-'} -> "
                        f"{t.to_state}  {t.reason}: {t.message}"
                        + (f"  (root cause {t.root_cause})" if t.root_cause else "")
                    )
                first = False
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        _run(follow())


# ---- manage, serve -------------------------------------------------------------------


@click.command("manage")
@click.argument("release")
@_ns
@click.option(
    "--selector",
    help="Label selector of the release's objects (default: app.kubernetes.io/instance=RELEASE).",
)
@_db
def manage(release: str, namespace: str, selector: str | None, url: str | None) -> None:
    """Register RELEASE (deployed by helm, kubectl or anything) so `serve` keeps its status."""
    from helmguard.store import ReleaseKey, open_store
    from helmguard.sync.releases import default_selector, register_release

    async def go() -> str:
        async with await open_store(url) as store:
            managed = await register_release(
                store, ReleaseKey(namespace, release), selector or default_selector(release)
            )
            return str(managed.selector)

    chosen = _run(go())
    click.echo(f"release {namespace}/{release} is managed (selector {chosen})")


def _api_available() -> bool:
    try:
        import helmguard.api.app  # noqa: F401
    except ImportError:
        return False
    return True


@click.command("serve")
@_db
@_kubeconfig
@_context
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
    verbose: bool,
) -> None:
    """Run the sync for every managed release, plus the API (`helmguard.api`) unless --no-api.

    One sync per cluster and store: a second `serve` on the same store and cluster stops,
    naming the first; CLI commands share the store with a running `serve`. A cluster that
    cannot be reached does not stop it: the API and page are served, the cluster's releases
    are stored Unknown with the reason, and it reconnects with backoff.
    """
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    api = None
    if not no_api and _api_available():
        from helmguard.api.app import default_allowed_hosts
        from helmguard.api.auth import TokenError, load_or_create_token

        try:
            token = load_or_create_token()
        except (TokenError, PermissionError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        hosts = default_allowed_hosts(host, allowed_hosts)
        api = _ApiSettings(host, port, public_read, token, tuple(hosts) if hosts else None)
    from helmguard.kube.client import load_config
    from helmguard.kube.errors import KubeConfigError
    from helmguard.sync.supervisor import GRACE_SECONDS

    try:
        config = load_config(kubeconfig, context)  # a wrong kubeconfig is bad input: exit 2
    except KubeConfigError as exc:
        click.echo(f"error: {exc.explain()}", err=True)
        raise SystemExit(2) from None
    grace = GRACE_SECONDS if cluster_grace is None else cluster_grace
    _run(_serve(url, config, kubeconfig, context, api, grace))


@dataclass(frozen=True)
class _ApiSettings:
    host: str
    port: int
    public_read: bool
    token: str = field(repr=False)
    allowed_hosts: tuple[str, ...] | None


async def _serve(
    url: str | None,
    config: ClusterConfig,
    kubeconfig: str | None,
    context: str | None,
    api: _ApiSettings | None,
    grace: float,
) -> None:
    from helmguard.deploy.recover import recover
    from helmguard.kube.client import Kube, connect_config
    from helmguard.store import open_store
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

    try:
        supervisor = ClusterSupervisor(
            lambda: connect_config(config, verify=False),
            store,
            name=str(config.target),
            grace=grace,
            announce=announce,
            on_connect=settle_dead,
        )
        click.echo(f"serve: {config.target}; store {store.url}", err=True)
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(supervisor.run()),
        ]
        if api is not None:
            tasks.append(
                asyncio.create_task(_api(store, kubeconfig, context, api, supervisor, stop))
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
    supervisor: ClusterSupervisor,
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
        deploy_options=DeployOptions(kubeconfig=kubeconfig, context=context),
        allowed_hosts=api.allowed_hosts,
        cluster_ready=supervisor.readiness,
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
