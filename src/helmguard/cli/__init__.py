"""The `helmguard` command line: a thin shell over the library's actions."""

from __future__ import annotations

import click

from helmguard import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="helmguard")
def main() -> None:
    """Deploy Helm charts to Kubernetes as application components; never lie about their state."""


from helmguard.cli.sandbox import sandbox  # noqa: E402

main.add_command(sandbox)
from helmguard.cli.render import render  # noqa: E402

main.add_command(render)
from helmguard.cli.check import check, graph  # noqa: E402

main.add_command(check)
main.add_command(graph)
from helmguard.cli.db import db  # noqa: E402

main.add_command(db)
