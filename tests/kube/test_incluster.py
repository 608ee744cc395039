"""`serve` as a pod runs it: no kubeconfig, the ServiceAccount's token, CA and namespace mounted,
KUBERNETES_SERVICE_HOST/PORT set, pointed at the sandbox, with the RBAC of charts/helmguard."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import httpx2
from click.testing import CliRunner

from helmguard.cli import main
from helmguard.kube.config import ClusterConfig
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, open_store
from kubeapi import wait_until
from processes import helmguard

CHART = Path(__file__).parents[2] / "charts" / "helmguard"
LABEL = "app.kubernetes.io/instance"


def _stored(db: Path, key: ReleaseKey) -> dict[ObjectRef, str]:
    async def read() -> dict[ObjectRef, str]:
        async with await open_store(str(db), read_only=True) as store:
            return {r.ref: r.state for r in await store.list_resources(key)}

    try:
        return asyncio.run(read())
    except Exception:  # not created yet
        return {}


def test_serve_in_a_pod_environment_syncs_with_the_charts_service_account(
    sandbox: Sandbox,
    admin_http: httpx2.Client,
    admin_config: ClusterConfig,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    release = f"hg{uuid.uuid4().hex[:6]}"
    # The chart's ServiceAccount and RBAC (no replicas: this process is the pod).
    common = ["--release", release, "-n", namespace, "--kubeconfig", str(sandbox.kubeconfig)]
    db = tmp_path / "helmguard.db"
    deployed = CliRunner().invoke(
        main,
        [
            "deploy",
            str(CHART),
            *common,
            "--db",
            str(tmp_path / "deploy.db"),
            "--set",
            "replicaCount=0",
            "--set",
            "rbac.readOnly=true",
            "--set",
            "database.url=sqlite:///unused",
            "--set",
            "apiToken.value=" + "x" * 40,
        ],
    )
    try:
        assert deployed.exit_code == 0, deployed.output
        answer = admin_http.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{release}-helmguard/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )
        answer.raise_for_status()
        token = answer.json()["status"]["token"]
        sa = tmp_path / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text(token)
        (sa / "ca.crt").write_bytes(admin_config.ca_pem or b"")
        (sa / "namespace").write_text(namespace)
        host, port = admin_config.target.server.removeprefix("https://").rsplit(":", 1)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HELMGUARD_DB")} | {
            "HOME": str(tmp_path),
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "HELMGUARD_SERVICE_ACCOUNT_DIR": str(sa),
        }
        key = ReleaseKey(namespace, "web")
        managed = subprocess.run(
            helmguard("manage", "web", "-n", namespace, "--db", str(db)),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert managed.returncode == 0, managed.stderr
        log = tmp_path / "serve.log"
        serve = subprocess.Popen(
            helmguard("serve", "--db", str(db), "--no-api", "--leader-elect"),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        processes.append(serve)
        admin_http.post(
            f"/api/v1/namespaces/{namespace}/configmaps",
            json={
                "metadata": {
                    "name": "web-settings",
                    "labels": {"app.kubernetes.io/instance": "web"},
                }
            },
        ).raise_for_status()
        ref = ObjectRef("", "ConfigMap", namespace, "web-settings")
        wait_until(lambda: _stored(db, key).get(ref) == "Ready" or None, "the sync to store", 60)
        text = log.read_text()
        assert any(
            line.startswith("serve: ") and "in-cluster" in line for line in text.splitlines()
        ), text
        # The Lease it elects through is in the pod's namespace, held by this process.
        lease = admin_http.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/helmguard-sync"
        )
        assert lease.status_code == 200, text
        assert f"_{serve.pid}_" in lease.json()["spec"]["holderIdentity"]
    finally:
        CliRunner().invoke(
            main, ["uninstall", release, *common[2:], "--db", str(tmp_path / "deploy.db")]
        )
