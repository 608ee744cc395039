"""`helmguard rollback`: helm rollback's arguments and flags over `helmguard.deploy`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import click

from helmguard.cli.deploy import (
    _check_wait_for_jobs,
    _cluster_options,
    _description,
    _history_max,
    _run,
    _wait_for_jobs,
)
from helmguard.cli.wait_flag import read_wait, wait_option

if TYPE_CHECKING:
    from helmguard.deploy import Configuration, DeployOptions, Result

# helm's limit of a revision's description (action.MaxDescriptionLength).
_DESCRIPTION_MAX = 256
_DRY_RUNS = {"client": True, "server": True, "true": True, "none": False, "false": False}


@click.command("rollback")
@click.argument("release")
@click.argument("revision", type=int, required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@_cluster_options
@click.option("--no-wait", is_flag=True, help="Return once every wave is applied.")
@wait_option("is --no-wait")
@_wait_for_jobs
@_history_max
@_description
@click.option(
    "--no-hooks",
    is_flag=True,
    help="Run no pre-rollback or post-rollback hook; they are still stored in the new "
    "revision's record, as helm's.",
)
@click.option(
    "--cleanup-on-fail",
    is_flag=True,
    help="When applying fails, delete the objects the rollback created (as helm's: not when "
    "only the wait fails).",
)
@click.option(
    "--force-conflicts", is_flag=True, help="Take over fields other managers own (helm's)."
)
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=False,
    flag_value="client",
    default=None,
    metavar="[=client|server|none]",
    help="Check that the revision can be rolled back to, as helm's, and change nothing "
    "(helmguard diff rollback shows what would change).",
)
@click.option(
    "--server-side",
    type=click.Choice(["true", "auto", "false"]),
    default="auto",
    show_default=True,
    help="helm's: helmguard always applies server-side (true and auto say so); false is "
    "refused (exit 2).",
)
@click.option(
    "--force-replace",
    "--force",
    "force_replace",
    is_flag=True,
    help="helm's (replace objects: delete and re-create): helmguard does not replace, so it is "
    "refused (exit 2).",
)
def rollback_command(
    release: str,
    revision: int | None,
    namespace: str,
    dry_run: str | None,
    server_side: str,
    force_replace: bool,
    **kwargs: Any,
) -> None:
    """Re-apply REVISION of RELEASE (default: the one before the latest) as a new revision.

    Without REVISION (or with 0), the revision before the latest, whatever its status, as
    helm's.

    Exit codes: 0 rolled back, 1 failed or no such revision, 2 bad input.
    """
    from helmguard.deploy.rollback import rollback

    if force_replace:
        _bad(
            "--force-replace (--force): helm replaces objects (delete and re-create); helmguard "
            "applies server-side and does not replace. Leave it out, or use helm rollback"
        )
    if server_side == "false":
        _bad("--server-side=false: helmguard applies server-side only (true or auto)")
    if revision is not None and revision < 0:
        _bad(f"REVISION {revision}: a revision is a number from 1 (0 or none: the previous one)")
    description = str(kwargs.get("description") or "")
    if len(description) > _DESCRIPTION_MAX:
        _bad(f"description must be {_DESCRIPTION_MAX} characters or less, got {len(description)}")
    simulate = _DRY_RUNS.get(dry_run.lower() if dry_run else "none")
    if simulate is None:
        _bad(f'invalid dry-run value ("{dry_run}"). Must be "none", "server", or "client"')
    read_wait(kwargs)
    _check_wait_for_jobs(kwargs)
    text = kwargs["output"] == "text"

    async def action(options: DeployOptions, config: Configuration) -> Result:
        result = await rollback(
            namespace, release, revision, options, dry_run=bool(simulate), config=config
        )
        if text and result.ok:  # helm's line, which scripts look for; a dry run says what
            click.echo(result.message if simulate else "Rollback was a success! Happy Helming!")
        return result

    _run(action, **kwargs)


def _bad(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(2)
