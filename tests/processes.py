"""helmguard as a user runs it: the command line, processes a test starts, free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until


def helmguard(*args: str) -> list[str]:
    """The argv of `helmguard ARGS…` run by this interpreter (the tree under test)."""
    return [sys.executable, "-m", "helmguard.cli", *args]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM, as a user's Ctrl-C would; SIGKILL if it is still there after `grace` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def on_sandbox(sandbox: Sandbox, db: Path, kubeconfig: Path | None = None) -> list[str]:
    """The options that point a helmguard command at a store and the sandbox, as its admin."""
    config = kubeconfig or sandbox.kubeconfig
    return ["--db", str(db), "--kubeconfig", str(config), "--kube-context", sandbox.admin_context]


def start(
    argv: list[str],
    processes: list[subprocess.Popen[bytes]],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`argv` started with its output in `log` (and `env` added to the environment);
    the `processes` fixture stops it."""
    proc = subprocess.Popen(
        argv,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **env} if env else None,
        cwd=cwd,
    )
    processes.append(proc)
    return proc


def start_serve(
    serve: list[str],
    processes: list[subprocess.Popen[bytes]],
    log: Path,
    *,
    token: str,
    cwd: Path | None = None,
    ready: str = "/healthz",
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`serve` (a `helmguard serve` argv) with its API on a free port and `token` (and `env`
    added to the environment); returns the process and the API's base URL once `ready`
    answers 200."""
    port = free_port()
    environ = {**(env or {}), "HELMGUARD_API_TOKEN": token}
    proc = start([*serve, "--port", str(port)], processes, log, env=environ, cwd=cwd)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}{ready}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, f"serve's API to answer {ready}", 90)
    return proc, base
