"""Helm's global connection flags on every command that connects to a cluster.

`--kube-apiserver`, `--kube-token`, `--kube-as-user`, `--kube-as-group`, `--kube-ca-file`,
`--kube-insecure-skip-tls-verify` and `--kube-tls-server-name` override the connection the
kubeconfig (and context) resolve to, as helm's (client-go's config overrides) do. The
overridden connection is held in memory under a name that then stands for the kubeconfig.

helm's `--color`/`--colour` comes with them: helmguard never colors, which is helm's output
with `never`, and with `auto` off a terminal (what scripts read); `always` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from helmguard.kube.config import ClusterConfig

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = (
    click.option(
        "--kube-apiserver",
        "kube_apiserver",
        metavar="URL",
        help="The API server's address and port, instead of the kubeconfig's (helm's flag).",
    ),
    click.option(
        "--kube-token",
        "kube_token",
        metavar="TOKEN",
        help="A bearer token, instead of the kubeconfig user's token (its client certificate, "
        "if any, is still sent, as client-go sends it).",
    ),
    click.option("--kube-as-user", "kube_as_user", metavar="USER", help="Act as USER."),
    click.option(
        "--kube-as-group",
        "kube_as_group",
        multiple=True,
        metavar="GROUP",
        help="Act as a member of GROUP; repeatable.",
    ),
    click.option(
        "--kube-ca-file",
        "kube_ca_file",
        type=click.Path(exists=True, dir_okay=False),
        help="The CA certificate file the API server's certificate is checked with.",
    ),
    click.option(
        "--kube-insecure-skip-tls-verify",
        "kube_insecure",
        is_flag=True,
        help="Do not check the API server's certificate (insecure).",
    ),
    click.option(
        "--kube-tls-server-name",
        "kube_tls_server_name",
        metavar="NAME",
        help="The name the API server's certificate is checked against.",
    ),
)
_NAMES = (
    "kube_apiserver",
    "kube_token",
    "kube_as_user",
    "kube_as_group",
    "kube_ca_file",
    "kube_insecure",
    "kube_tls_server_name",
)


def _color_mode(_ctx: click.Context, _param: click.Parameter, mode: str | None) -> None:
    if mode is None or mode in ("never", "auto"):
        return
    if mode == "always":
        click.echo(
            "Error: --color always: helmguard prints no color (its output is helm's with "
            "--color never, and with auto off a terminal)",
            err=True,
        )
    else:  # helm's message
        click.echo(
            f'Error: invalid color mode "{mode}": must be one of: never, auto, always', err=True
        )
    raise SystemExit(2)


_COLOR = click.option(
    "--color",
    "--colour",
    metavar="MODE",
    expose_value=False,
    callback=_color_mode,
    help="helm's color mode: never or auto (helmguard prints no color); always is refused.",
)


def kube_flag_options(command: F) -> F:
    """Add helm's connection flags (and --color); `connection_with_flags` pops the connection
    flags from the kwargs."""
    for option in (*reversed(_FLAGS), _COLOR):
        command = option(command)
    return command


def overridden(config: ClusterConfig, flags: dict[str, Any]) -> ClusterConfig:
    """`config` with helm's connection flags applied (those given: truthy values)."""
    if flags.get("kube_token"):
        # client-go: the flag's token replaces the user's token (or token file), no more.
        config = replace(config, token=str(flags["kube_token"]), token_file=None)
    if flags.get("kube_as_user") or flags.get("kube_as_group"):
        config = config.impersonating(
            str(flags.get("kube_as_user") or ""), tuple(flags.get("kube_as_group") or ())
        )
    if flags.get("kube_apiserver"):
        server = str(flags["kube_apiserver"])
        config = replace(config, target=replace(config.target, server=server))
    if flags.get("kube_ca_file"):
        config = replace(config, ca_pem=Path(flags["kube_ca_file"]).read_bytes())
    if flags.get("kube_insecure"):
        # client-go: skipping verification drops the kubeconfig's CA.
        config = replace(config, insecure=True, ca_pem=None)
    if flags.get("kube_tls_server_name"):
        config = replace(config, tls_server_name=str(flags["kube_tls_server_name"]))
    return config


def connection_with_flags(
    kubeconfig: str | None, context: str | None, kwargs: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The (kubeconfig, context) a command connects with once helm's connection flags in
    `kwargs` (popped) apply: unchanged when none is given, else the name of a connection
    held in memory, resolved from `kubeconfig` and `context` when the command connects."""
    from helmguard.kube.config import hold_connection, load_config

    flags = {name: kwargs.pop(name, None) for name in _NAMES}
    if not any(flags.values()):
        return kubeconfig, context
    if flags["kube_insecure"] and flags["kube_ca_file"]:
        click.echo(
            "Error: --kube-insecure-skip-tls-verify and --kube-ca-file exclude each other "
            "(client-go refuses a CA with verification off)",
            err=True,
        )
        raise SystemExit(2)
    if flags["kube_as_group"] and not flags["kube_as_user"]:
        click.echo("Error: --kube-as-group needs --kube-as-user (as helm's)", err=True)
        raise SystemExit(2)
    name = f"helm-connection-flags:{kubeconfig or ''}:{context or ''}"
    hold_connection(name, lambda: overridden(load_config(kubeconfig, context), flags))
    return name, None
