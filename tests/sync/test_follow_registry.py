"""`serve --all-clusters` follows the cluster registry while it runs: started with no
cluster registered, it syncs a cluster added afterwards (`helmguard cluster add`), a
release deployed there shows its true state (a deletion made in the cluster is stored),
and a removed cluster's sync stops: its sync lease row is given up (with --leader-elect
its Lease too) and /readyz no longer names it. A second registered cluster, at a port
nothing listens on, makes /readyz name it until it is removed (without --leader-elect:
a follower of a cluster nobody leads is ready).

Both "clusters" are the session's sandbox under two names (two registrations of one
kubeconfig context are two clusters to helmguard). With --leader-elect, b is registered
and removed through the API (POST/DELETE /api/clusters) instead of the CLI.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until
from processes import free_port, helmguard, start_serve
from sync.test_clusters import AUTH, ELECTION, TOKEN, _cli, _get

pytestmark = pytest.mark.sandbox

CHARTS = Path(__file__).parent / "charts"


def _nowhere(tmp_path: Path) -> Path:
    """A kubeconfig whose only context is a server at a port nothing listens on."""
    path = tmp_path / "nowhere.kubeconfig"
    server = f"https://127.0.0.1:{free_port()}"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "nowhere", "cluster": {"server": server}}],
                "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
                "contexts": [
                    {"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}
                ],
                "current-context": "nowhere",
            }
        )
    )
    return path


@pytest.mark.parametrize("elected", [False, True], ids=["plain", "leader-elect"])
def test_serve_follows_cluster_add_and_remove(
    sandbox: Sandbox,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    elected: bool,
) -> None:
    db = str(tmp_path / "follow.db")
    namespace = f"follow-{uuid.uuid4().hex[:8]}"
    with sandbox.admin_http() as kube:
        create_namespace(kube, namespace)
        try:
            _journey(sandbox, kube, db, namespace, processes, tmp_path, elected)
        finally:
            with contextlib.suppress(httpx.HTTPError):
                delete_namespace(kube, namespace)


def _journey(
    sandbox: Sandbox,
    kube: httpx.Client,
    db: str,
    namespace: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    elected: bool,
) -> None:
    serve = helmguard(
        "serve", "--db", db, "--no-default-cluster", "--all-clusters", "--cluster-grace", "2",
        "--leader-elect-lease-namespace", namespace, *(ELECTION if elected else []),
    )  # fmt: skip
    log = tmp_path / "serve.log"
    proc, base = start_serve(serve, processes, log, token=TOKEN, ready="/readyz")
    assert _get(f"{base}/api/clusters") == []

    if elected:  # registered through the API, for once
        posted = httpx.post(
            f"{base}/api/clusters",
            json={"name": "b", "kubeconfig": str(sandbox.kubeconfig),
                  "context": sandbox.admin_context},
            headers=AUTH,
        )  # fmt: skip
        assert posted.status_code == 201, posted.text
    else:
        added = _cli(
            "cluster", "add", "b", "--kubeconfig", str(sandbox.kubeconfig),
            "--context", sandbox.admin_context, "--db", db,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    deployed = _cli(
        "deploy", str(CHARTS / "labelled"), "--release", "web", "-n", namespace,
        "--cluster", "b", "--db", db,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    detail = f"{base}/api/releases/{namespace}/web?cluster=b"

    def state() -> str | None:
        listed = _get(f"{base}/api/releases?cluster=b") or []
        return next((r["state"] for r in listed if r["release"]["name"] == "web"), None)

    def clusters() -> dict[str, Any]:
        return {c["name"]: c for c in _get(f"{base}/api/clusters") or []}

    wait_until(lambda: state() == "Ready", "b's release Ready in /api/releases?cluster=b", 90)
    assert _get(f"{base}/api/info")["deploy_clusters"] == ["b"]
    wait_until(lambda: (clusters().get("b") or {}).get("sync"), "b's sync lease held", 30)
    # The state is the cluster's, kept true by the sync serve started: a deletion is stored.
    gone = kube.delete(f"/api/v1/namespaces/{namespace}/configmaps/web-settings")
    assert gone.is_success, gone.text
    wait_until(lambda: state() == "Missing", "b's deleted ConfigMap stored Missing", 60)
    assert _get(detail)["status"]["state"] == "Missing"
    if elected:
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/helmguard-sync-b"
        wait_until(
            lambda: kube.get(lease).json()["spec"].get("holderIdentity"), "b's Lease held", 30
        )

    # A cluster that cannot be reached: /readyz names it, until it is removed. (With
    # --leader-elect nobody leads it: a follower is ready, serving the store.)
    nowhere = _cli("cluster", "add", "c", "--kubeconfig", str(_nowhere(tmp_path)), "--db", db)
    assert nowhere.returncode == 0, nowhere.stderr
    wait_until(lambda: "serve: cluster c (" in log.read_text(), "serve to start cluster c", 30)
    if not elected:
        said = wait_until(
            lambda: (r := httpx.get(f"{base}/readyz", timeout=5)).status_code == 503 and r.json(),
            "/readyz not ready naming cluster c",
            60,
        )
        assert "cluster c (" in said["detail"] and "cluster b (" not in said["detail"], said
    assert _cli("cluster", "remove", "c", "--db", db).returncode == 0
    wait_until(
        lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, "/readyz ready", 30
    )

    if elected:
        held = httpx.delete(f"{base}/api/clusters/b", headers=AUTH)
        assert held.status_code == 409, held.text  # its release is stored
        gone = httpx.delete(f"{base}/api/clusters/b?forget_releases=true", headers=AUTH)
        assert gone.status_code == 204, gone.text
    else:
        removed = _cli("cluster", "remove", "b", "--forget-releases", "--db", db)
        assert removed.returncode == 0, removed.stderr
    # Its sync stopped: the lease row given up, so /api/clusters knows nothing of b.
    wait_until(lambda: "b" not in clusters(), "b gone from /api/clusters", 30)
    assert state() is None
    if elected:
        wait_until(
            lambda: not kube.get(lease).json()["spec"].get("holderIdentity"),
            "b's Lease released",
            30,
        )
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    # Deploys no longer reach it.
    assert _get(f"{base}/api/info")["deploy_clusters"] == []

    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()
    output = log.read_text()
    assert "Traceback" not in output, output
    assert "no cluster registered in" in output, output
    # (0 or 1: the deploy may be stored before or after the sync starts)
    assert re.search(r"serve: syncing [01] release\(s\) from cluster b \(", output), output
    assert "serve: cluster b is no longer registered: its sync stopped" in output, output
    assert "serve: cluster c is no longer registered: its sync stopped" in output, output
