"""Options and the runner the store-reading commands and `serve` share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import click

from helmguard.store.db import ENV_VAR

T = TypeVar("T")

db_option = click.option(
    "--db",
    "url",
    envvar=ENV_VAR,
    metavar="URL",
    help=f"SQLite file, sqlite:///PATH or postgresql+asyncpg://… (default: ${ENV_VAR}, "
    "else helmguard.db in the user data directory).",
)
namespace_option = click.option(
    "-n", "--namespace", default="default", show_default=True, help="The release's namespace."
)
kubeconfig_option = click.option(
    "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)."
)
context_option = click.option("--kube-context", "context", help="kubeconfig context to use.")


def run_async(coro: Awaitable[T]) -> T:
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
