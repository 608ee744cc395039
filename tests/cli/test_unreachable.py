"""Reading commands on a cluster that refuses connections: they fail soon, naming it.

helm and kubectl try once (`helm status`: "Kubernetes cluster unreachable: … connection
refused", at once); helmguard's reads retry a few seconds (REACH_TIMEOUT), not the 30 s a
live read may take once connected. Real sockets: the kubeconfig's server is a loopback
port nothing listens on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helmguard.cli import main
from helmguard.deploy.status import LIVE_TIMEOUT, REACH_TIMEOUT
from kube.conftest import closed_port

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: down
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
- name: u
  user: {{token: t0ken}}
contexts:
- name: down
  context: {{cluster: down, user: u, namespace: shop}}
current-context: down
"""


@pytest.mark.parametrize(
    "command",
    [("status", "web", "-n", "shop"), ("list",), ("history", "web", "-n", "shop")],
    ids=" ".join,
)
def test_a_refusing_cluster_fails_a_read_within_seconds(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(port=closed_port()))
    env = {"HELMGUARD_HOME": str(tmp_path / "home"), "KUBECONFIG": str(kubeconfig)}
    started = time.monotonic()
    result = CliRunner().invoke(main, list(command), env=env)
    took = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert "Cannot connect to the API server https://127.0.0.1:" in result.output, result.output
    # No hint to register a release the command could not look for.
    assert "helmguard manage" not in result.output, result.output
    assert took < (REACH_TIMEOUT + LIVE_TIMEOUT) / 2, f"{command} took {took:.1f}s"
