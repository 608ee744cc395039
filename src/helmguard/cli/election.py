"""`serve --leader-elect …`: the flags of leader election among replicas (kube-controller-manager's
names), gathered into one `ElectionOptions` argument of the command.

Defaults are helmguard.sync.leader's (client-go's), imported only when serve runs: the CLI
starts without loading the sync."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from helmguard.sync.leader import ElectionTimings

F = TypeVar("F", bound=Callable[..., Any])
_NAMES = ("leader_elect", "lease_name", "lease_namespace", "lease_duration", "renew", "retry")
_seconds = click.FloatRange(min=0, min_open=True)


@dataclass(frozen=True)
class ElectionOptions:
    """None of it matters unless `enabled`; `namespace` "" is the cluster config's namespace."""

    enabled: bool
    lease_name: str  # "" for helmguard.sync.leader.LEASE_NAME
    namespace: str
    timings: ElectionTimings


def election_options(command: F) -> F:
    """Add the --leader-elect flags to a click command; it receives `election: ElectionOptions`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from helmguard.sync import leader

        given = {name: kwargs.pop(name) for name in _NAMES}
        try:
            timings = leader.ElectionTimings(
                given["lease_duration"] or leader.LEASE_DURATION,
                given["renew"] or leader.RENEW_DEADLINE,
                given["retry"] or leader.RETRY_PERIOD,
            )
        except leader.ElectionConfigError as exc:
            click.echo(f"error: leader election: {exc}", err=True)
            raise SystemExit(2) from None
        kwargs["election"] = ElectionOptions(
            given["leader_elect"],
            given["lease_name"] or leader.LEASE_NAME,
            given["lease_namespace"] or "",
            timings,
        )
        return command(*args, **kwargs)

    options = [
        click.option(
            "--leader-elect",
            is_flag=True,
            envvar="HELMGUARD_LEADER_ELECT",
            help="Several replicas on one store: sync the cluster only while holding its "
            "Lease (the others serve the API and the page from the store).",
        ),
        click.option(
            "--leader-elect-lease-name",
            "lease_name",
            envvar="HELMGUARD_LEADER_ELECT_LEASE_NAME",
            help="The Lease's name (default: helmguard-sync).",
        ),
        click.option(
            "--leader-elect-lease-namespace",
            "lease_namespace",
            envvar="HELMGUARD_LEADER_ELECT_LEASE_NAMESPACE",
            help="The Lease's namespace (default: the kubeconfig context's; in a pod, its own).",
        ),
        click.option(
            "--leader-elect-lease-duration",
            "lease_duration",
            type=_seconds,
            envvar="HELMGUARD_LEADER_ELECT_LEASE_DURATION",
            help="Seconds a follower waits, after the last renewal it saw, before taking "
            "over (default: 15, client-go's).",
        ),
        click.option(
            "--leader-elect-renew-deadline",
            "renew",
            type=_seconds,
            envvar="HELMGUARD_LEADER_ELECT_RENEW_DEADLINE",
            help="Seconds the leader keeps trying to renew before it stops syncing (default: 10).",
        ),
        click.option(
            "--leader-elect-retry-period",
            "retry",
            type=_seconds,
            envvar="HELMGUARD_LEADER_ELECT_RETRY_PERIOD",
            help="Seconds between attempts to acquire or renew (default: 2).",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]
