"""`helmguard uninstall`: helm uninstall's arguments and flags over `helmguard.deploy`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from helmguard.cli.deploy import _cluster_options, _description, _run
from helmguard.cli.wait_flag import read_wait, wait_option

if TYPE_CHECKING:
    from helmguard.deploy import Configuration, DeployOptions, Result


@click.command("uninstall")
@click.argument("releases", metavar="RELEASE [RELEASE...]", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default", show_default=True)
@_cluster_options
@click.option(
    "--keep-history",
    is_flag=True,
    help="Keep the release's records (marked uninstalled, as helm does) and its store history.",
)
@_description
@click.option(
    "--cascade",
    default="background",
    show_default=True,
    metavar="background|foreground|orphan",
    help="The deletions' propagationPolicy, as helm's: orphan leaves what the objects own "
    "(a Deployment's ReplicaSets and pods); foreground deletes it first.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be deleted (what exists and is the release's) and which hooks would "
    "run; change nothing.",
)
@click.option(
    "--ignore-not-found",
    is_flag=True,
    help="A release with no record is not an error (exit 0), as helm's.",
)
@click.option("--no-hooks", is_flag=True, help="Run no pre-delete or post-delete hook, as helm's.")
@wait_option("requests the deletions and does not wait for them to be gone (helm's default)")
def uninstall_command(
    releases: tuple[str, ...],
    namespace: str,
    cascade: str,
    dry_run: bool,
    ignore_not_found: bool,
    **kwargs: Any,
) -> None:
    """Delete everything each RELEASE applied, in reverse order, and wait until it is gone.

    Releases are uninstalled one after the other, as helm's, stopping at the first that fails.
    Exit codes: 0 uninstalled, 1 failed or not found, 2 bad input.
    """
    from helmguard.deploy.uninstall import UninstallOptions, uninstall

    read_wait(kwargs)
    try:
        how = UninstallOptions(cascade, dry_run, ignore_not_found)
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    text = kwargs["output"] == "text"

    async def each(options: DeployOptions, config: Configuration) -> Result:
        for release in releases:
            result = await uninstall(namespace, release, options, how=how, config=config)
            if not result.ok:
                return result
            if text:  # helm's line, which scripts look for; a dry run prints its plan
                click.echo(result.message if dry_run else f'release "{release}" uninstalled')
        return result

    _run(each, **kwargs)
