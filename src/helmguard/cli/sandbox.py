"""`helmguard sandbox`: build, start, inspect and stop the local control plane."""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Iterator

import click

from helmguard.cli.duration import DURATION
from helmguard.sandbox import cluster
from helmguard.sandbox.build import build
from helmguard.sandbox.errors import SandboxError

_name_option = click.option(
    "--name", default="default", show_default=True, help="Which sandbox (one directory each)."
)


def _progress(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """A SandboxError becomes `error: …` on stderr and exit status 1, not a traceback."""
    try:
        yield
    except SandboxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group()
def sandbox() -> None:
    """A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler, kwok) built from Go modules, for tests, demos and trying charts."""


@sandbox.command("build")
@click.option("--force", is_flag=True, help="Rebuild even what is already built.")
def build_cmd(force: bool) -> None:
    """Build (or reuse) the binaries in the per-version cache."""
    with _reported():
        out = build(_progress, force=force)
    click.echo(f"binaries ready in {out}")


@sandbox.command("up")
@_name_option
@click.option("--port", type=int, help="kube-apiserver port on 127.0.0.1 (default: a free one).")
@click.option(
    "--timeout", type=DURATION, default="180s", show_default=True, help="How long to wait."
)
def up_cmd(name: str, port: int | None, timeout: float) -> None:
    """Start the sandbox and wait until it is ready to take workloads."""
    started = time.monotonic()
    with _reported():
        sb = cluster.sandbox_up(name, port=port, progress=_progress, timeout=timeout)
    click.echo(
        f"sandbox {sb.name!r} is ready in {time.monotonic() - started:.1f}s: {sb.server}\n"
        f"  kubeconfig: {sb.kubeconfig}\n"
        f"  contexts:   {sb.admin_context} (system:masters), {sb.restricted_context} "
        "(user alice: discovery only)\n"
        f'  use it:     eval "$(helmguard sandbox env{_flag(name)})"\n'
        f"  stop it:    helmguard sandbox down{_flag(name)}"
    )


def _flag(name: str) -> str:
    return "" if name == "default" else f" --name {name}"


@sandbox.command("down")
@_name_option
def down_cmd(name: str) -> None:
    """Stop every process of the sandbox and delete its directory."""
    with _reported():
        stopped = cluster.sandbox_down(name)
    click.echo(f"sandbox {name!r} stopped ({', '.join(stopped) or 'nothing was running'})")


@sandbox.command("status")
@_name_option
def status_cmd(name: str) -> None:
    """Show each component; exits 1 if the sandbox is down or a component died."""
    with _reported():
        st = cluster.sandbox_status(name)
    if not st.recorded:
        click.echo(f"sandbox {name!r} is not up")
        sys.exit(1)
    for c in st.components:
        click.echo(f"{c.name:<24} {'running' if c.running else 'NOT RUNNING':<12} pid {c.pid}")
        if not c.running and c.log_tail:
            click.echo("    " + c.log_tail.replace("\n", "\n    "))
    if not st.healthy:
        sys.exit(1)


@sandbox.command("env")
@_name_option
def env_cmd(name: str) -> None:
    """Print `export KUBECONFIG=…` for the sandbox (use with eval)."""
    with _reported():
        sb = cluster.load_sandbox(name)
    click.echo(f"export KUBECONFIG={shlex.quote(str(sb.kubeconfig))}")
