"""helm v4's `--wait[=STRATEGY]` flag, read as helmguard waits: by default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

WAIT_STRATEGIES = ("watcher", "legacy", "hookOnly")


def wait_option(meaning: str) -> Callable[[Any], Any]:
    """`--wait[=watcher|legacy|hookOnly]`; `meaning` says what hookOnly turns off."""
    return click.option(
        "--wait",
        "wait_strategy",
        is_flag=False,
        flag_value="watcher",
        default=None,
        metavar="[=STRATEGY]",
        help="helm's flag: helmguard waits by default (--wait and --wait=watcher or legacy "
        f"say the same); --wait=hookOnly {meaning}.",
    )


def read_wait(kwargs: dict[str, Any]) -> None:
    """kwargs["no_wait"] from --wait=STRATEGY (popped) and --no-wait, if the command has it;
    a usage error (exit 2) for an unknown strategy or a wait --no-wait contradicts."""
    strategy = kwargs.pop("wait_strategy", None)
    no_wait = bool(kwargs.get("no_wait"))
    if strategy is not None:
        if strategy not in WAIT_STRATEGIES:
            raise click.UsageError(
                f"--wait={strategy}: use one of {', '.join(WAIT_STRATEGIES)} (or --wait alone)"
            )
        if no_wait and strategy != "hookOnly":
            raise click.UsageError(f"--wait={strategy} waits and --no-wait does not: pass one")
        no_wait = strategy == "hookOnly"
    kwargs["no_wait"] = no_wait
