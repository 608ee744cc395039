"""The `helmguard` command line: a thin shell over the library's actions.

Subcommands are imported only when invoked, so `helmguard check` does not pay for the
store, the sandbox or the HTTP server at start-up.
"""

from __future__ import annotations

import importlib

import click

from helmguard import __version__

# name -> ("module:attribute" of a click command, its one-line summary): add a line to add
# a command. The summaries are listed by `helmguard --help` without importing a command
# (tests/cli/test_help.py holds them to the commands' own help).
COMMANDS: dict[str, tuple[str, str]] = {
    "check": (
        "helmguard.cli.check:check",
        "Render CHART and report every reference that will break at install.",
    ),
    "cluster": (
        "helmguard.cli.cluster:cluster",
        "Register the clusters `serve` syncs and `--cluster NAME` reaches (kubeconfig contexts).",
    ),
    "db": ("helmguard.cli.db:db", "Manage helmguard's database (SQLite file or PostgreSQL)."),
    "deploy": (
        "helmguard.cli.deploy:deploy_command",
        "Install or upgrade CHART as release NAME: preflight, ordered waves, wait, prune.",
    ),
    "diff": (
        "helmguard.cli.diff:diff_group",
        "What an upgrade or a rollback would change, object by object, against the live objects.",
    ),
    "events": (
        "helmguard.cli.status:events",
        "Kubernetes Events about RELEASE's objects that the sync stored, most recent first.",
    ),
    "graph": (
        "helmguard.cli.check:graph",
        "Render CHART and print its by-name references and how each resolves.",
    ),
    "get": (
        "helmguard.cli.releases:get_group",
        "A stored revision's values, manifest, notes or hooks, like `helm get`.",
    ),
    "history": (
        "helmguard.cli.releases:history_command",
        "RELEASE's revisions, like `helm history` (status transitions: `helmguard transitions`).",
    ),
    "install": (
        "helmguard.cli.deploy:install_command",
        "Install CHART as a new release NAME, as `helm install NAME CHART`.",
    ),
    "list": (
        "helmguard.cli.releases:list_command",
        "Releases (their latest revision), helm's and helmguard's alike, like `helm list`.",
    ),
    "manage": (
        "helmguard.cli.status:manage",
        "Register RELEASE (deployed by helm, kubectl or anything) so `serve` keeps its status.",
    ),
    "plan": (
        "helmguard.cli.deploy:plan_command",
        "Render CHART and print the waves `deploy` would apply, and what each waits for.",
    ),
    "render": (
        "helmguard.cli.render:render",
        "Render CHART with the real Helm engine and print the manifests (hooks included).",
    ),
    "repo": (
        "helmguard.cli.repo:repo",
        "Register Helm chart repositories and OCI registries for the catalogue.",
    ),
    "rollback": (
        "helmguard.cli.rollback:rollback_command",
        "Re-apply REVISION of RELEASE (default: the one before the latest) as a new revision.",
    ),
    "sandbox": (
        "helmguard.cli.sandbox:sandbox",
        (
            "A real local Kubernetes control plane (etcd, kube-apiserver, "
            "kube-controller-manager, kube-scheduler, kwok) built from Go modules, for tests, "
            "demos and trying charts."
        ),
    ),
    "serve": (
        "helmguard.cli.serve:serve",
        "Run the sync for every managed release, plus the API (`helmguard.api`) unless --no-api.",
    ),
    "status": (
        "helmguard.cli.status:status",
        (
            "Components of RELEASE with state, reason, since and root cause (all releases if "
            "omitted)."
        ),
    ),
    "test": (
        "helmguard.cli.deploy:test_command",
        "Run RELEASE's test hooks (helm.sh/hook: test) as `helm test` does.",
    ),
    "transitions": ("helmguard.cli.status:history", "RELEASE's status transitions, newest first."),
    "uninstall": (
        "helmguard.cli.uninstall:uninstall_command",
        "Delete everything each RELEASE applied, in reverse order, and wait until it is gone.",
    ),
    "upgrade": (
        "helmguard.cli.deploy:upgrade_command",
        "Upgrade release NAME to CHART, as `helm upgrade [--install] NAME CHART`.",
    ),
    "watch": (
        "helmguard.cli.status:watch",
        "Print RELEASE's status transitions as `serve` stores them (Ctrl-C to stop).",
    ),
}

# helm's aliases of its commands, accepted (not listed): helm uninstall's del, delete and un.
ALIASES = {"del": "uninstall", "delete": "uninstall", "un": "uninstall"}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the summaries above: `--help` imports no command."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [
            (name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(ALIASES.get(cmd_name, cmd_name))
        if entry is None:
            return None
        module, _, attribute = entry[0].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return name, command, optional_values(command, rest) if command is not None else rest


# helm's flags whose value is optional (pflag's NoOptDefVal: pkg/cmd/flags.go, helpers.go).
_OPTIONAL_VALUES = ("--wait", "--dry-run")


def optional_values(command: click.Command, args: list[str]) -> list[str]:
    """`args` with each bare `--wait` or `--dry-run` written `--flag=<its bare value>`: as
    pflag reads helm's, such a flag takes a value only after `=`, so `helm upgrade --install
    --wait NAME CHART` keeps NAME, which click would take as the flag's value."""
    bare = {
        name: str(param.flag_value)
        for param in command.params
        if isinstance(param, click.Option) and param._flag_needs_value
        for name in param.opts
        if name in _OPTIONAL_VALUES
    }
    if not bare:
        return args
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return [*out, *args[i:]]
        out.append(f"{arg}={bare[arg]}" if arg in bare else arg)
    return out


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="helmguard")
def main() -> None:
    """Deploy Helm charts to Kubernetes as application components; never lie about their state."""
