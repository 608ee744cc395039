"""`helmguard rollback`: helm rollback's arguments and flags over `helmguard.deploy`."""

from __future__ import annotations

from typing import Any

import click

from helmguard.cli.deploy import (
    _check_wait_for_jobs,
    _cluster_options,
    _description,
    _history_max,
    _run,
    _wait_for_jobs,
)


@click.command("rollback")
@click.argument("release")
@click.argument("revision", type=int, required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@_cluster_options
@click.option("--no-wait", is_flag=True, help="Return once every wave is applied.")
@_wait_for_jobs
@_history_max
@_description
def rollback_command(release: str, revision: int | None, namespace: str, **kwargs: Any) -> None:
    """Re-apply REVISION of RELEASE (default: the previous deployed one) as a new revision."""
    from helmguard.deploy.rollback import rollback

    _check_wait_for_jobs(kwargs)
    _run(
        lambda options, config: rollback(namespace, release, revision, options, config=config),
        **kwargs,
    )
