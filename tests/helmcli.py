"""The `helm` binary `sandbox build` made, run as a user runs it against a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helmguard.chart.render import find_helm
from helmguard.chart.source import ChartError
from helmguard.sandbox.cluster import Sandbox


def helm_binary() -> Path:
    """The helm binary; skips the test when there is none."""
    try:
        return find_helm()
    except ChartError as exc:
        pytest.skip(f"no helm binary: {exc}")


class Helm:
    """helm with its own home directories, on the sandbox, with HELM_DRIVER=`driver`."""

    def __init__(self, binary: Path, sandbox: Sandbox, home: Path, driver: str = "") -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(sandbox.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_DRIVER": driver,
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args], env=self.env, capture_output=True, text=True, timeout=180
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
