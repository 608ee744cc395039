"""`helmguard sandbox` faults: each is a one-line error, a non-zero exit, no orphans.

These start their own sandboxes (not the session one) in a private HELMGUARD_SANDBOX_HOME.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helmguard.sandbox.build import bin_dir
from kubeapi import wait_until

HELMGUARD = [sys.executable, "-m", "helmguard.cli"]


def run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HELMGUARD_SANDBOX_HOME": str(home), **(env or {})}
    return subprocess.run(
        [*HELMGUARD, "sandbox", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def processes_mentioning(text: str) -> list[int]:
    """Live (non-zombie) pids whose command line mentions `text`: the process table."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if text.encode() in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def test_down_with_nothing_up(tmp_path: Path) -> None:
    result = run(tmp_path, "down")
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"error: sandbox 'default' is not up (no {tmp_path / 'default'})"
    )


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(tmp_path, "up", "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert processes_mentioning(str(tmp_path)) == []


def _fake_go(directory: Path, version_line: str) -> Path:
    directory.mkdir()
    go = directory / "go"
    go.write_text(f"#!/bin/sh\necho {version_line}\n")
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    return directory


def _build_env(tmp_path: Path, path: str) -> dict[str, str]:
    """An empty cache and no HELMGUARD_SANDBOX_BIN, so `build` must look for Go."""
    return {"PATH": path, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HELMGUARD_SANDBOX_BIN": ""}


def test_build_refuses_too_old_go(tmp_path: Path) -> None:
    fake = _fake_go(tmp_path / "oldgo", "go1.22.4")
    result = run(tmp_path, "build", env=_build_env(tmp_path, f"{fake}:/usr/bin:/bin"))
    assert result.returncode == 1
    assert "Go 1.22.4 is too old" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_without_go(tmp_path: Path) -> None:
    env = {
        "PATH": "/nonexistent",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HELMGUARD_SANDBOX_BIN": "",
    }
    result = run(tmp_path, "build", env=env)
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr


@pytest.mark.sandbox  # wraps the built binaries
def test_component_crash_during_up_is_reported(tmp_path: Path) -> None:
    """A component that dies at start-up is named with its own last log lines, and the
    components already started are stopped."""
    bins = tmp_path / "bin"
    bins.mkdir()
    for entry in bin_dir().iterdir():
        (bins / entry.name).symlink_to(entry)
    (bins / "kube-scheduler").unlink()
    wrapper = bins / "kube-scheduler"
    real = bin_dir() / "kube-scheduler"
    wrapper.write_text(f'#!/bin/sh\nexec {real} --no-such-flag-for-this-test "$@"\n')
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    result = run(home, "up", "--name", "crash", env={"HELMGUARD_SANDBOX_BIN": str(bins)})
    assert result.returncode == 1
    assert "kube-scheduler exited with status 1 during start-up" in result.stderr
    assert "unknown flag: --no-such-flag-for-this-test" in result.stderr
    wait_until(lambda: processes_mentioning(str(home)) == [], "no orphaned process", 15)


@pytest.mark.sandbox
def test_lifecycle_stale_twice_killed_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stale = home / "life"
    stale.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (stale / "state.json").write_text(json.dumps({"pids": {"etcd": dead.pid}, "ports": {}}))

    # Without `unshare` the sandbox still comes up; only the volumes' place changes.
    nothing = tmp_path / "empty-path"
    nothing.mkdir()
    up = run(home, "up", "--name", "life", env={"PATH": str(nothing)})
    assert up.returncode == 0, up.stderr
    assert "removing stale sandbox directory" in up.stderr
    assert (
        "kube-controller-manager cannot get a mount namespace (no `unshare` on PATH): "
        "provisioned volumes go to /tmp/hostpath_pv on this machine" in up.stderr
    )
    assert "is ready" in up.stdout
    try:
        again = run(home, "up", "--name", "life")
        assert again.returncode == 1
        assert "sandbox 'life' is already up" in again.stderr

        healthy = run(home, "status", "--name", "life")
        assert healthy.returncode == 0, healthy.stdout
        env = run(home, "env", "--name", "life")
        assert env.stdout.startswith("export KUBECONFIG=")

        state = json.loads((stale / "state.json").read_text())
        os.kill(state["pids"]["kube-scheduler"], signal.SIGKILL)
        wait_until(
            lambda: run(home, "status", "--name", "life").returncode == 1,
            "status to notice the killed kube-scheduler",
        )
        broken = run(home, "status", "--name", "life")
        assert "kube-scheduler           NOT RUNNING" in broken.stdout
        env = run(home, "env", "--name", "life")
        assert env.returncode == 1
        assert "kube-scheduler not running" in env.stderr
    finally:
        down = run(home, "down", "--name", "life")
    assert down.returncode == 0, down.stderr
    assert processes_mentioning(str(home)) == []
    assert not stale.exists()
    assert run(home, "down", "--name", "life").returncode == 1
