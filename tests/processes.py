"""helmguard as a user runs it: the command line, processes a test starts, free ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys


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
