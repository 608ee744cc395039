"""`helmguard status|watch|history|events|manage|serve`: the sync's state, and the sync itself.

Reads (`status`, `watch`, `history`, `events`) open the store read-only, so they work while
`serve` holds the writer. `status --live` lists the cluster once and evaluates directly;
`status` does the same by itself when the release is not in the store but a cluster is
named (`--kubeconfig` or `--kube-context`), and says so in its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import click

from helmguard.store.db import ENV_VAR

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
    help="List the cluster now and evaluate directly (no store; works without `serve`).",
)
@click.option("--selector", help="Label selector of the release's objects (with --live).")
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

    Reads what `helmguard serve` stored. With --live (or when RELEASE is not in the store
    and --kubeconfig/--kube-context names a cluster) it lists the cluster once instead.
    """
    result = _run(_status(release, namespace, url, live, selector, kubeconfig, context))
    if output == "json":
        click.echo(json.dumps(result, indent=2, default=str))
        return
    if release is None:
        rows = [
            [r["namespace"], r["name"], r["status"], _when(r["updated_at"])]
            for r in result["releases"]
        ]
        click.echo(_table(rows, ["NAMESPACE", "RELEASE", "STATUS", "UPDATED"]))
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


async def _status(
    release: str | None,
    namespace: str,
    url: str | None,
    live: bool,
    selector: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> dict[str, Any]:
    from helmguard.store import ReleaseKey
    from helmguard.store.errors import StoreError
    from helmguard.sync.releases import APP_GROUP, ManagedRelease, default_selector, load_release
    from helmguard.sync.selector import parse_selector

    if release is None:
        async with await _open_read(url) as store:
            records = await store.list_releases()
        return {
            "releases": [
                {
                    "namespace": r.key.namespace,
                    "name": r.key.name,
                    "status": r.status,
                    "updated_at": r.updated_at,
                }
                for r in records
            ]
        }
    key = ReleaseKey(namespace, release)
    managed: ManagedRelease | None = None
    rows: list[Any] = []
    if not live:
        try:
            async with await _open_read(url) as store:
                record = await store.get_release(key)
                if record is not None:
                    managed = await load_release(store, record)
                    rows = await store.list_resources(key)
        except StoreError:
            if not (kubeconfig or context):
                raise
    if managed is not None and not live and not selector:
        app = next((r for r in rows if r.ref.group == APP_GROUP), None)
        members = [r for r in rows if r.ref.group != APP_GROUP]
        return {
            "source": "stored by serve",
            "app": {
                "state": app.state if app else "Unknown",
                "reason": app.reason if app else "NotSynced",
                "message": app.message if app else "serve has not stored a status for it yet",
                "since": app.since if app else None,
                "root_cause": str(app.root_cause) if app and app.root_cause else None,
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
                for m in members
            ],
        }
    if not live and not (kubeconfig or context):
        raise click.ClickException(
            f"release {key} is not in the store; register it with `helmguard manage {release} "
            f"-n {namespace}`, or look at the cluster now with `helmguard status {release} "
            f"-n {namespace} --live`"
        )
    from helmguard.kube.client import connect
    from helmguard.sync.live import live_status

    if managed is None or selector:
        managed = ManagedRelease(
            key,
            parse_selector(selector or default_selector(release)),
            managed.inventory if managed else frozenset(),
        )
    async with await connect(kubeconfig, context) as kube:
        found = await live_status(kube, managed)
    app_state = found.app
    return {
        "source": f"live from the cluster, selector {managed.selector}",
        "app": {
            "state": app_state.state.value,
            "reason": app_state.reason,
            "message": app_state.message,
            "since": app_state.since,
            "root_cause": str(app_state.root_cause) if app_state.root_cause else None,
        },
        "members": [
            {
                "object": _kind_name(m.ref),
                "ref": str(m.ref),
                "state": m.state.value,
                "reason": m.reason,
                "message": m.message,
                "since": m.since,
                "observed_at": found.at,
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
@click.option("-v", "--verbose", is_flag=True, help="Log informer and sync activity.")
def serve(
    url: str | None,
    kubeconfig: str | None,
    context: str | None,
    no_api: bool,
    host: str,
    port: int,
    public_read: bool,
    verbose: bool,
) -> None:
    """Run the sync for every managed release, plus the API (`helmguard.api`) unless --no-api.

    One writer per SQLite file: a second `serve` on the same file refuses to start.
    """
    import logging

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    api = None if no_api or not _api_available() else _ApiSettings(host, port, public_read)
    _run(_serve(url, kubeconfig, context, api))


@dataclass(frozen=True)
class _ApiSettings:
    host: str
    port: int
    public_read: bool


async def _serve(
    url: str | None,
    kubeconfig: str | None,
    context: str | None,
    api: _ApiSettings | None,
) -> None:
    from helmguard.kube.client import connect
    from helmguard.store import open_store
    from helmguard.sync import Sync

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = await open_store(url)
    try:
        async with await connect(kubeconfig, context) as kube:
            sync = Sync(kube, store)
            await sync.start()
            click.echo(
                f"serve: syncing {len(sync.index.releases)} release(s) from {kube.target} "
                f"into {store.url}",
                err=True,
            )
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
            if api is not None:
                tasks.append(asyncio.create_task(_api(store, kubeconfig, context, api)))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                for task in tasks:
                    task.cancel()
                await sync.stop()
    finally:
        await store.close()


async def _api(store: Any, kubeconfig: str | None, context: str | None, api: _ApiSettings) -> None:
    import uvicorn

    from helmguard.api.app import create_app
    from helmguard.api.auth import load_or_create_token
    from helmguard.deploy import DeployOptions
    from helmguard.kube.client import connect

    factory: Callable[[], Awaitable[Any]] = lambda: connect(kubeconfig, context)  # noqa: E731
    token = load_or_create_token()
    app = create_app(
        store,
        token=token,
        public_read=api.public_read,
        kube_factory=factory,
        deploy_options=DeployOptions(kubeconfig=kubeconfig, context=context),
    )
    # Open event streams would otherwise hold a shutdown forever.
    config = uvicorn.Config(
        app, host=api.host, port=api.port, log_level="warning", timeout_graceful_shutdown=2
    )
    click.echo(f"serve: dashboard on http://{api.host}:{api.port}/#token={token}", err=True)
    await uvicorn.Server(config).serve()
