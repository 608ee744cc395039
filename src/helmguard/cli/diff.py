"""`helmguard diff upgrade|rollback`: what an operation would change, like the helm-diff plugin.

Exit codes as helm-diff's: 0 (with --detailed-exitcode: no changes), 1 when there are
changes and --detailed-exitcode is given (or the cluster fails), 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helmguard.cli.chart_options import release_chart_options, request_from_options
from helmguard.cli.deploy import _user_errors, deploy_options, values_mode, values_mode_options
from helmguard.cli.duration import DURATION
from helmguard.cli.options import connection_options

if TYPE_CHECKING:
    from helmguard.deploy.diff import ReleaseDiff

F = TypeVar("F", bound=Callable[..., Any])


def _diff_options(f: F) -> F:
    options = (
        click.option(
            "--timeout",
            type=DURATION,
            default="5m0s",
            show_default=True,
            help="Time for the whole diff, retries of transient errors included (a Go "
            "duration: 300s, 5m; or seconds).",
        ),
        click.option(
            "--context",
            "context_lines",
            type=click.IntRange(min=0),
            default=3,
            show_default=True,
            help="Lines of unchanged YAML around each change.",
        ),
        click.option(
            "--detailed-exitcode",
            is_flag=True,
            help="Exit 1 when there are changes, 0 when there are none (as helm-diff).",
        ),
        click.option(
            "--force-conflicts",
            is_flag=True,
            help="Dry-run taking over fields other managers own (as deploy --force-conflicts).",
        ),
        click.option(
            "-o",
            "--output",
            type=click.Choice(["diff", "json"]),
            default="diff",
            show_default=True,
            help="diff: unified diffs and the preflight table; json: one JSON document.",
        ),
    )
    for option in reversed(options):
        f = option(f)
    return connection_options(f)


@click.group("diff")
def diff_group() -> None:
    """What an upgrade or a rollback would change, object by object, against the live objects.

    Each object is dry-run on the server (server-side apply, Helm's field manager) and its
    answer compared with the live object: "added", "removed" or a unified diff of the YAML.
    Secret values never appear: each key shows its size and whether it changes. Hooks and
    CRDs are not diffed. Nothing is written.
    """


@diff_group.command("upgrade")
@release_chart_options
@_diff_options
@values_mode_options
def diff_upgrade_command(**kwargs: Any) -> None:
    """What `helmguard deploy RELEASE CHART` would change, with its preflight."""
    from helmguard.deploy.diff import diff_upgrade

    mode = values_mode(kwargs)
    request = request_from_options(**kwargs, is_upgrade=True)
    options = deploy_options(**{**kwargs, "values_mode": mode})
    _show(lambda: diff_upgrade(request, options, context=kwargs["context_lines"]), kwargs)


@diff_group.command("rollback")
@click.argument("release")
@click.argument("revision", type=click.IntRange(min=1), required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@_diff_options
def diff_rollback_command(
    release: str, revision: int | None, namespace: str, **kwargs: Any
) -> None:
    """What `helmguard rollback RELEASE [REVISION]` would change."""
    from helmguard.deploy.diff import diff_rollback

    options = deploy_options(**{**kwargs, "values_mode": ""})
    _show(
        lambda: diff_rollback(
            namespace, release, revision, options, context=kwargs["context_lines"]
        ),
        kwargs,
    )


def _show(action: Callable[[], Coroutine[Any, Any, ReleaseDiff]], kwargs: dict[str, Any]) -> None:
    from helmguard.deploy.diff import DiffInputError

    with _user_errors():
        try:
            result = asyncio.run(action())
        except DiffInputError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None
    if kwargs["output"] == "json":
        from helmguard.preflight.report import to_json

        doc = result.to_json()
        doc["preflight"] = json.loads(to_json(result.report)) if result.report else None
        click.echo(json.dumps(doc, indent=2))
    else:
        _print(result)
    if result.changes and kwargs["detailed_exitcode"]:
        raise SystemExit(1)


def _print(result: ReleaseDiff) -> None:
    from helmguard.preflight.report import to_table

    where = f"{result.namespace}/{result.release}"
    now = f"revision {result.current}" if result.current is not None else "not installed"
    click.echo(f"{result.operation} of {where} ({now}) to {result.target}:", err=True)
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    for change in result.changes:
        click.echo(change.header)
        click.echo(change.diff)
    counts = {
        k: sum(c.change == k for c in result.changes) for k in ("added", "changed", "removed")
    }
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no changes"
    click.echo(f"{where}: {summary}", err=True)
    if result.report is not None:
        click.echo(to_table(result.report), err=True, nl=False)
