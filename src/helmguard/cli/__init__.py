"""The `helmguard` command line: a thin shell over the library's actions.

Subcommands are imported only when invoked, so `helmguard check` does not pay for the
store, the sandbox or the HTTP server at start-up.
"""

from __future__ import annotations

import importlib

import click

from helmguard import __version__

# name -> "module:attribute" of a click command; add a line to add a command.
COMMANDS = {
    "check": "helmguard.cli.check:check",
    "cluster": "helmguard.cli.cluster:cluster",
    "db": "helmguard.cli.db:db",
    "deploy": "helmguard.cli.deploy:deploy_command",
    "diff": "helmguard.cli.diff:diff_group",
    "events": "helmguard.cli.status:events",
    "graph": "helmguard.cli.check:graph",
    "get": "helmguard.cli.releases:get_group",
    "history": "helmguard.cli.releases:history_command",
    "list": "helmguard.cli.releases:list_command",
    "manage": "helmguard.cli.status:manage",
    "plan": "helmguard.cli.deploy:plan_command",
    "render": "helmguard.cli.render:render",
    "repo": "helmguard.cli.repo:repo",
    "rollback": "helmguard.cli.deploy:rollback_command",
    "sandbox": "helmguard.cli.sandbox:sandbox",
    "serve": "helmguard.cli.serve:serve",
    "status": "helmguard.cli.status:status",
    "test": "helmguard.cli.deploy:test_command",
    "transitions": "helmguard.cli.status:history",
    "uninstall": "helmguard.cli.deploy:uninstall_command",
    "watch": "helmguard.cli.status:watch",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="helmguard")
def main() -> None:
    """Deploy Helm charts to Kubernetes as application components; never lie about their state."""
