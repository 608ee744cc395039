"""`helmguard status|watch|transitions|events|manage`: the sync's state (`serve`: cli/serve.py).

Reads (`status`, `watch`, `history`, `events`) open the store read-only, so they work while
`serve` writes. `status` is the `status` action (helmguard.deploy.status): the store while a
sync feeds it, else the cluster read now from the release's inventory, and it says which;
`status --live` always reads the cluster.

One file past 400 lines (just): the commands that read the sync's state share their
store opening, output formats and release-key options.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from helmguard.cli.options import (
    cluster_option,
    db_option,
    namespace_option,
    run_async,
    target_options,
)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line.rstrip(), *body])


# Where a release's state in the list was read: serve's store, or the cluster now.
_READ_FROM = {"store": "serve", "live": "cluster"}


def _kind_name(ref: Any) -> str:
    return f"{ref.kind}/{ref.name}"


async def _open_read(url: str | None) -> Any:
    from helmguard.store import open_store

    return await open_store(url, read_only=True)


# ---- status --------------------------------------------------------------------------


@click.command("status")
@click.argument("release", required=False)
@namespace_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@db_option
@click.option(
    "--live",
    is_flag=True,
    help="Read the cluster now, whether or not a sync is feeding the store.",
)
@click.option(
    "--selector",
    help="Evaluate the objects this label selector matches (beside any stored inventory).",
)
@target_options
def status(
    release: str | None,
    namespace: str,
    output: str,
    url: str | None,
    live: bool,
    selector: str | None,
    kubeconfig: str | None,
    context: str | None,
    cluster: str,
) -> None:
    """Components of RELEASE with state, reason, since and root cause (all releases if omitted).

    While `helmguard serve` syncs the release, reads what it stored; otherwise (or with
    --live) reads the cluster now, from the objects the release's revisions applied. The
    first line says which. Exits 1 when the release, or every object of it, is not found.
    Without RELEASE, every cluster's releases (--cluster: that cluster's only).
    """
    result = run_async(
        _status(release, namespace, url, live, selector, kubeconfig, context, cluster)
    )
    if output == "json":
        click.echo(json.dumps(result, indent=2, default=str))
        _fail_if_not_found(result, release, namespace)
        return
    if release is None:
        rows = [
            [
                r["namespace"],
                r["name"],
                r["state"],
                _READ_FROM[r["read_from"]] if r["state"] != "Unknown" else "-",
                r["status"],
                _when(r["updated_at"]),
            ]
            for r in result["releases"]
        ]
        headers = ["NAMESPACE", "RELEASE", "STATE", "READ FROM", "LAST OPERATION", "UPDATED"]
        if any(r["cluster"] for r in result["releases"]):
            releases = result["releases"]
            rows = [
                [r["cluster"] or "(default)", *row] for r, row in zip(releases, rows, strict=True)
            ]
            headers = ["CLUSTER", *headers]
        click.echo(_table(rows, headers))
        return
    app = result["app"]
    where = f"{cluster}:" if cluster else ""
    click.echo(f"release {where}{namespace}/{release}: {app['state']} ({result['source']})")
    operation = result["last_operation"]
    if operation and not operation.startswith("deployed"):
        # The objects can be Ready while the revision that was asked for did not land.
        click.echo(f"  last operation: revision {result['last_revision']} {operation}")
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
    cluster: str,
) -> dict[str, Any]:
    from helmguard.deploy.status import (
        LIVE_TIMEOUT,
        REACH_TIMEOUT,
        ReleaseNotFound,
        release_status,
        release_statuses,
    )
    from helmguard.kube.client import connect
    from helmguard.store import ReleaseKey
    from helmguard.store.errors import StoreError

    async def open_kube() -> Any:
        return await connect(kubeconfig, context, timeout=LIVE_TIMEOUT, reach_timeout=REACH_TIMEOUT)

    if release is None:
        async with await _open_read(url) as store:
            records = await store.list_releases(cluster or None)
            found_all = await release_statuses(
                records, store=store, open_kube=open_kube, cluster=cluster
            )
        return {
            "releases": [
                {
                    "cluster": r.key.cluster,
                    "namespace": r.key.namespace,
                    "name": r.key.name,
                    # As `status RELEASE` tells it (serve's store while a sync keeps the
                    # release, else the cluster now), and what the last operation left.
                    "state": found.state,
                    "read_from": found.source,
                    "source": found.detail,
                    "status": r.status,
                    "updated_at": r.updated_at,
                }
                for r, found in zip(records, found_all, strict=True)
            ]
        }

    key = ReleaseKey(namespace, release, cluster)
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
        if not exc.cluster_read:
            raise click.ClickException(str(exc)) from None
        raise click.ClickException(
            f"{exc}; register a release deployed by something else with `helmguard manage "
            f"{release} -n {namespace}`, or name its objects with `--live --selector …`"
        ) from None
    return {
        "source": found.detail,
        "read_from": found.source,
        "found": found.found,
        "last_revision": found.last_revision,
        "last_operation": found.last_operation,
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
@namespace_option
@db_option
@click.option("--limit", default=100, show_default=True, help="How many transitions.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@cluster_option
def history(
    release: str, namespace: str, url: str | None, limit: int, output: str, cluster: str
) -> None:
    """RELEASE's status transitions, newest first."""
    from helmguard.store import ReleaseKey

    async def read() -> list[Any]:
        async with await _open_read(url) as store:
            return list(await store.history(ReleaseKey(namespace, release, cluster), limit=limit))

    items = run_async(read())
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
@namespace_option
@db_option
@click.option("--limit", default=100, show_default=True)
@cluster_option
def events(release: str, namespace: str, url: str | None, limit: int, cluster: str) -> None:
    """Kubernetes Events about RELEASE's objects that the sync stored, most recent first."""
    from helmguard.store import ReleaseKey

    async def read() -> list[Any]:
        async with await _open_read(url) as store:
            return list(await store.events(ReleaseKey(namespace, release, cluster), limit=limit))

    items = run_async(read())
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
@namespace_option
@db_option
@click.option("--interval", default=0.5, show_default=True, help="Seconds between store reads.")
@cluster_option
def watch(release: str, namespace: str, url: str | None, interval: float, cluster: str) -> None:
    """Print RELEASE's status transitions as `serve` stores them (Ctrl-C to stop)."""
    from helmguard.store import ReleaseKey

    key = ReleaseKey(namespace, release, cluster)

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
        run_async(follow())


# ---- manage, serve -------------------------------------------------------------------


@click.command("manage")
@click.argument("release")
@namespace_option
@click.option(
    "--selector",
    help="Label selector of the release's objects (default: app.kubernetes.io/instance=RELEASE).",
)
@db_option
@cluster_option
def manage(
    release: str, namespace: str, selector: str | None, url: str | None, cluster: str
) -> None:
    """Register RELEASE (deployed by helm, kubectl or anything) so `serve` keeps its status."""
    from helmguard.store import ReleaseKey, open_store
    from helmguard.sync.releases import default_selector, register_release

    async def go() -> str:
        async with await open_store(url) as store:
            managed = await register_release(
                store,
                ReleaseKey(namespace, release, cluster),
                selector or default_selector(release),
            )
            return str(managed.selector)

    chosen = run_async(go())
    where = f" in cluster {cluster!r}" if cluster else ""
    click.echo(f"release {namespace}/{release}{where} is managed (selector {chosen})")
