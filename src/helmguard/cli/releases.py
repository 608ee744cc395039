"""`helmguard list`, `history` and `get`: releases as helm shows them, from Helm's records.

One file past 400 lines: the three commands print helm's formats (its tables, Go times,
JSON and YAML) from one reading of the records, with one set of filters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.cli.deploy import _user_errors
from helmguard.cli.options import connection_options
from helmguard.goyamlout import dump, go_json, sort_maps

if TYPE_CHECKING:
    from helmguard.deploy.cluster import Cluster
    from helmguard.deploy.release import RevisionManifest

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_OUTPUT = click.option(
    "-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table"
)
_NS = click.option("-n", "--namespace", default="default", show_default=True)


def _read(
    kubeconfig: str | None, context: str | None, read: Callable[[Cluster], Awaitable[T]]
) -> T:
    """Run `read` against the cluster; user errors exit 2 (bad input) or 1 (cluster)."""
    from helmguard.deploy.cluster import Cluster
    from helmguard.deploy.status import LIVE_TIMEOUT, REACH_TIMEOUT
    from helmguard.kube.client import connect

    async def main() -> T:
        kube = await connect(kubeconfig, context, timeout=LIVE_TIMEOUT, reach_timeout=REACH_TIMEOUT)
        try:
            return await read(Cluster(kube, deadline=asyncio.get_running_loop().time() + 60))
        finally:
            await kube.aclose()

    with _user_errors():
        try:
            return asyncio.run(main())
        except ValueError as exc:  # a bad --filter or HELM_DRIVER
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None


def _print(data: Any, output: str, table: Callable[[], str]) -> None:
    """`data` as helm's -o json (Go's json.Encoder: compact, maps in the order `data` holds
    them) or -o yaml (sigs.k8s.io/yaml: keys sorted, go-yaml's quoting), else `table()`."""
    if output == "json":
        click.echo(go_json(data))
    elif output == "yaml":
        click.echo(dump(data), nl=False)
    else:
        click.echo(table(), nl=False)


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    headers: bool = True,
    helm: bool = False,
) -> str:
    """Columns padded to their widest cell, tab-separated; `helm`: as helm's tables (Go's
    uitable) print them, the last cell padded too, else without trailing blanks."""
    cells = [list(columns), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ("\t".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "".join(
        (line if helm else line.rstrip()) + "\n" for line in list(lines)[0 if headers else 1 :]
    )


def _ansic(updated: str) -> str:
    """An RFC 3339 time as `helm history`'s table prints it (Go's time.ANSIC, as recorded);
    the zero time when the revision records none, as helm prints it."""
    from helmguard.deploy.query import recorded_time

    when = recorded_time(updated)
    return f"{when:%a %b} {when.day:2} {when:%H:%M:%S} {when.year:04}"


def _status_filters(f: F) -> F:
    from helmguard.deploy.query import LIST_FILTERS

    for name in reversed(LIST_FILTERS):
        f = click.option(
            f"--{name}", "statuses", flag_value=name, multiple=True, help=f"Show {name} releases."
        )(f)
    return f


@click.command("list")
@_NS
@click.option("-A", "--all-namespaces", is_flag=True, help="Releases of every namespace.")
@click.option(
    "-a", "--all", "all_statuses", is_flag=True, help="Every status (the default, as helm v4)."
)
@_status_filters
@click.option("-f", "--filter", "name_filter", help="Only release names matching this regex.")
@click.option(
    "-l",
    "--selector",
    help="Only releases whose latest record's labels match this label selector (k=v, k==v, "
    "k!=v, k in (a,b), k, !k), as helm's.",
)
@click.option("-d", "--date", "by_date", is_flag=True, help="Sort by release date, oldest first.")
@click.option("-r", "--reverse", is_flag=True, help="Reverse the sort order.")
@click.option(
    "-m",
    "--max",
    "limit",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    help="At most this many releases (0: all).",
)
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Skip this many releases first."
)
@click.option("-q", "--short", is_flag=True, help="Release names only.")
@click.option("--no-headers", is_flag=True, help="No header line in the table.")
@click.option(
    "--time-format",
    metavar="LAYOUT",
    default="",
    help='UPDATED written with this Go time layout, as helm\'s (e.g. "2006-01-02 15:04:05Z0700").',
)
@_OUTPUT
@connection_options
def list_command(
    namespace: str,
    all_namespaces: bool,
    all_statuses: bool,
    statuses: tuple[str, ...],
    name_filter: str | None,
    selector: str | None,
    by_date: bool,
    reverse: bool,
    limit: int,
    offset: int,
    short: bool,
    no_headers: bool,
    time_format: str,
    output: str,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Releases (their latest revision), helm's and helmguard's alike, like `helm list`.

    Every status by default; --deployed, --failed, --pending, ... keep only those.
    """
    from helmguard.deploy.query import LIST_FILTERS, all_revisions, name_pattern, select_releases
    from helmguard.sync.selector import parse_selector

    try:
        name_pattern(name_filter)
        labels = None if not selector else parse_selector(selector)
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    wanted = (
        None
        if all_statuses or not statuses
        else frozenset().union(*(LIST_FILTERS[s] for s in statuses))
    )

    async def read(cluster: Cluster) -> list[Any]:
        revisions = await all_revisions(cluster, None if all_namespaces else namespace)
        return select_releases(
            revisions,
            statuses=wanted,
            name_filter=name_filter,
            by_date=by_date,
            reverse=reverse,
            limit=limit,
            offset=offset,
            selector=labels,
            time_format=time_format,
        )

    releases = _read(kubeconfig, context, read)
    data = [r.name for r in releases] if short else [r.to_json() for r in releases]
    if short:
        _print(data, output, lambda: "".join(f"{n}\n" for n in data))
        return
    headers = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
    rows = [
        [r.name, r.namespace, r.revision, r.updated, r.status, r.chart, r.app_version]
        for r in releases
    ]
    _print(
        data,
        output,
        lambda: _table(headers, rows, headers=not no_headers, helm=True),
    )


@click.command("history")
@click.argument("release")
@_NS
@click.option(
    "--max",
    "max_revisions",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="At most this many revisions (the newest).",
)
@_OUTPUT
@connection_options
def history_command(
    release: str,
    namespace: str,
    max_revisions: int,
    output: str,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """RELEASE's revisions, like `helm history` (status transitions: `helmguard transitions`)."""
    from helmguard.deploy.history import read_history
    from helmguard.deploy.query import history_row
    from helmguard.kube.errors import KubeError

    async def read(cluster: Cluster) -> list[RevisionManifest]:
        history = await read_history(cluster, namespace, release)
        if not history:
            raise KubeError(f"release {namespace}/{release} not found", fix="Check -n NAMESPACE.")
        return history[-max_revisions:]

    rows = [history_row(r) for r in _read(kubeconfig, context, read)]
    _print(
        rows,
        output,
        lambda: _table(
            ["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"],
            [
                [
                    r["revision"],
                    _ansic(r.get("updated", "")),
                    r["status"],
                    r["chart"],
                    r["app_version"],
                    r["description"],
                ]
                for r in rows
            ],
            helm=True,
        ),
    )


@click.group("get")
def get_group() -> None:
    """A stored revision's values, manifest, notes or hooks, like `helm get`."""


def _revision_options(f: F) -> F:
    f = click.option("--revision", type=click.IntRange(min=1), help="Default: the latest.")(f)
    return _NS(click.argument("release")(connection_options(f)))


def _get(
    release: str,
    namespace: str,
    revision: int | None,
    kubeconfig: str | None,
    context: str | None,
) -> RevisionManifest:
    from helmguard.deploy.query import revision_of

    return _read(
        kubeconfig, context, lambda cluster: revision_of(cluster, namespace, release, revision)
    )


@get_group.command("values")
@_revision_options
@click.option(
    "-a", "--all", "all_values", is_flag=True, help="The computed values: chart defaults too."
)
@_OUTPUT
def get_values(output: str, all_values: bool, **kwargs: Any) -> None:
    """The user-supplied values of a revision (Helm's `config`), or with --all the values it
    was rendered with (the stored chart's defaults coalesced with them, as helm computes)."""
    rev = _get(**kwargs)
    values = _computed_values(rev) if all_values else dict(rev.config)
    title = "COMPUTED VALUES:" if all_values else "USER-SUPPLIED VALUES:"
    # No user-supplied values: helm's release has a nil map (its JSON omits it), `null`;
    # computed ones are a map, if empty `{}`.
    data = sort_maps(values) if values or all_values else None
    _print(
        data, output, lambda: f"{title}\n" + (dump(values) if all_values else _yaml_or_null(values))
    )


def _computed_values(rev: RevisionManifest) -> dict[str, Any]:
    """The stored chart's default values coalesced with the user-supplied, as helm's."""
    from helmguard.chart.values import coalesce_values

    return coalesce_values((rev.helm.get("chart") or {}).get("values"), dict(rev.config))


def _yaml_or_null(values: dict[str, Any]) -> str:
    """Values as helm's YAML prints them; none (a nil map in Go) as `null`."""
    return dump(values) if values else "null\n"


@get_group.command("manifest")
@_revision_options
def get_manifest(**kwargs: Any) -> None:
    """The rendered manifest of a revision, as stored."""
    click.echo(_get(**kwargs).manifest)  # with helm's closing newline


@get_group.command("notes")
@_revision_options
def get_notes(**kwargs: Any) -> None:
    """The NOTES.txt of a revision."""
    click.echo(f"NOTES:\n{_get(**kwargs).notes}")  # as helm get notes prints them


def _hooks_text(rev: RevisionManifest) -> str:
    return "".join(
        f"---\n# Source: {h.get('path', '')}\n{h.get('manifest', '')}\n"
        for h in rev.helm.get("hooks") or ()
    )


@get_group.command("hooks")
@_revision_options
def get_hooks(**kwargs: Any) -> None:
    """The hooks of a revision, as stored."""
    click.echo(_hooks_text(_get(**kwargs)), nl=False)


_APPLY_METHODS = {
    "": "client-side apply (defaulted)",
    "csa": "client-side apply",
    "ssa": "server-side apply",
}


def _rfc3339(updated: str) -> str:
    """A record's time as Go's time.RFC3339 prints it (whole seconds, UTC as Z)."""
    from helmguard.deploy.query import recorded_time

    text = recorded_time(updated).isoformat("T", "seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@get_group.command("metadata")
@_revision_options
@_OUTPUT
def get_metadata(output: str, **kwargs: Any) -> None:
    """A revision's chart, labels, status and when it was deployed, as `helm get metadata`."""
    rev = _get(**kwargs)
    chart = (rev.helm.get("chart") or {}).get("metadata") or {}
    # helm reads the labels of the latest revision (its storage's query) and none for a
    # --revision it fetches by name (the driver's Get decodes only the release).
    labels = rev.record_labels if kwargs["revision"] is None else {}
    method = str(rev.helm.get("apply_method") or "")
    data: dict[str, Any] = {
        "name": rev.release,
        "chart": chart.get("name", rev.chart),
        "version": chart.get("version", rev.chart_version),
        "appVersion": chart.get("appVersion", ""),
        "annotations": dict(sorted((chart.get("annotations") or {}).items())) or None,
        "labels": dict(sorted(labels.items())) or None,
        "dependencies": chart.get("dependencies") or None,
        "namespace": rev.namespace,
        "revision": rev.revision,
        "status": rev.status,
        "deployedAt": _rfc3339(str(rev.info.get("last_deployed") or "")),
        "applyMethod": method or None,
    }
    data = {k: v for k, v in data.items() if v is not None}  # helm's omitempty

    def pairs(mapping: Any) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()))

    def table() -> str:
        names = sorted(str(d.get("name", "")) for d in chart.get("dependencies") or ())
        return (
            f"NAME: {data['name']}\nCHART: {data['chart']}\nVERSION: {data['version']}\n"
            f"APP_VERSION: {data['appVersion']}\nANNOTATIONS: {pairs(chart.get('annotations'))}\n"
            f"LABELS: {pairs(labels)}\nDEPENDENCIES: {','.join(names)}\n"
            f"NAMESPACE: {rev.namespace}\nREVISION: {rev.revision}\nSTATUS: {rev.status}\n"
            f"DEPLOYED_AT: {data['deployedAt']}\n"
            f"APPLY_METHOD: {_APPLY_METHODS.get(method, f'unknown ({json.dumps(method)})')}\n"
        )

    _print(data, output, table)


@get_group.command("all")
@_revision_options
def get_all(**kwargs: Any) -> None:
    """Everything of a revision, as `helm get all` prints it (helm status's debug form):
    status, test hooks, user-supplied and computed values, hooks, manifest, notes."""
    rev = _get(**kwargs)
    deployed = str(rev.info.get("last_deployed") or "")
    hooks = rev.helm.get("hooks") or ()
    tests = [h for h in hooks if "test" in (h.get("events") or ())]
    notes = rev.notes.strip(" \t\n\r\v\f")  # Go's strings.TrimSpace
    click.echo(
        f"NAME: {rev.release}\n"
        + (f"LAST DEPLOYED: {_ansic(deployed)}\n" if not _is_zero_time(deployed) else "")
        + f"NAMESPACE: {rev.namespace}\nSTATUS: {rev.status}\nREVISION: {rev.revision}\n"
        f"CHART: {rev.chart}\nVERSION: {rev.chart_version}\nAPP_VERSION: {rev.app_version}\n"
        f"DESCRIPTION: {rev.description}\n"
        + ("".join(_test_suite(h) for h in tests) if tests else "TEST SUITE: None\n")
        + f"USER-SUPPLIED VALUES:\n{_yaml_or_null(dict(rev.config))}\n"
        f"COMPUTED VALUES:\n{dump(_computed_values(rev))}\n"
        f"HOOKS:\n{_hooks_text(rev)}MANIFEST:\n{rev.manifest}\n"
        + (f"NOTES:\n{notes}\n" if rev.notes else ""),
        nl=False,
    )


def _is_zero_time(value: str) -> bool:
    from helmguard.deploy.query import recorded_time

    return recorded_time(value) == datetime.min.replace(tzinfo=UTC)


def _test_suite(hook: dict[str, Any]) -> str:
    """A test hook as helm status prints it; nothing for one never run."""
    run = hook.get("last_run") or {}
    started, completed = str(run.get("started_at") or ""), str(run.get("completed_at") or "")
    if _is_zero_time(started):
        return ""
    return (
        f"TEST SUITE:     {hook.get('name', '')}\nLast Started:   {_ansic(started)}\n"
        f"Last Completed: {_ansic(completed)}\nPhase:          {run.get('phase', '')}\n"
    )
