"""serve follows releases the `helm` binary installed, with no `manage`: their records are found,
their manifests are the inventory, helm upgrade and uninstall are followed."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from helmcli import Helm, helm_binary
from helmguard.cli import main
from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import ReleaseKey, Store
from helmguard.sync import Sync
from helmguard.sync.helm import HelmRevision, followed, uninstalled
from kubeapi import wait_until
from processes import free_port, helmguard

CHART = Path(__file__).parent / "charts" / "helmsa"
TOKEN = "helm-discovery-token-" + "y" * 32


def _rev(revision: int, status: str, *, by_helmguard: bool = False) -> HelmRevision:
    ref = ObjectRef("", "ConfigMap", "shop", f"v{revision}")
    return HelmRevision(
        ReleaseKey("shop", "web"), revision, status, "web", "1.0.0", (ref,), by_helmguard, ""
    )


def test_followed_revision_is_the_latest_deployed_or_failed() -> None:
    assert followed([_rev(1, "superseded"), _rev(2, "deployed")]) == _rev(2, "deployed")
    # An upgrade in flight has not replaced what is deployed yet.
    assert followed([_rev(1, "deployed"), _rev(2, "pending-upgrade")]) == _rev(1, "deployed")
    assert followed([_rev(1, "superseded"), _rev(2, "failed")]) == _rev(2, "failed")
    assert followed([_rev(1, "pending-install")]) == _rev(1, "pending-install")
    # Uninstalled with --keep-history, or nothing left: nothing to follow.
    assert followed([_rev(1, "superseded"), _rev(2, "uninstalled")]) is None
    assert followed([]) is None
    # helmguard wrote it: its own deploys keep the release, not discovery.
    assert followed([_rev(1, "deployed", by_helmguard=True)]) is None


@pytest.fixture
def api(sandbox: Sandbox, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> httpx.Client:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    args = ["serve", "--db", str(tmp_path / "serve.db"), "--port", str(port)]
    proc = subprocess.Popen(
        helmguard(*args, "--kubeconfig", str(sandbox.kubeconfig)),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HELMGUARD_API_TOKEN": TOKEN},
    )
    processes.append(proc)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, "serve's API to answer", 90)
    return client


def _item(api: httpx.Client, namespace: str, name: str) -> dict[str, Any] | None:
    answer = api.get("/api/releases")
    answer.raise_for_status()
    want = {"namespace": namespace, "name": name, "cluster": ""}
    return next((r for r in answer.json() if r["release"] == want), None)


@pytest.mark.parametrize("driver", ["secret", "configmap"])
def test_serve_follows_a_release_helm_installed(
    sandbox: Sandbox,
    namespace: str,
    admin_http: httpx.Client,
    api: httpx.Client,
    tmp_path: Path,
    driver: str,
) -> None:
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm", driver=driver)
    helm.run("install", "shop", str(CHART), "-n", namespace)

    def blocked() -> dict[str, Any] | None:
        item = _item(api, namespace, "shop")
        return item if item is not None and item["state"] == "Blocked" else None

    item = wait_until(blocked, "serve to show the helm release Blocked", 90)
    assert item["current_revision"] == 1
    assert item["chart"] == "helmsa"
    assert item["root_cause"]["text"] == f"ServiceAccount {namespace}/helmsa-runner"
    assert "helmsa-runner" in item["summary"]

    created = admin_http.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts",
        json={"metadata": {"name": "helmsa-runner"}},
    )
    assert created.status_code == 201, created.text

    def ready() -> dict[str, Any] | None:
        item = _item(api, namespace, "shop")
        return item if item is not None and item["state"] == "Ready" else None

    wait_until(ready, "the release to turn Ready once its ServiceAccount exists", 90)

    # A new revision re-reads the inventory: the ConfigMap it adds is a member.
    helm.run("upgrade", "shop", str(CHART), "-n", namespace, "--set", "settings.mode=fast")

    want = {("Deployment", "shop-web", "Ready"), ("ConfigMap", "shop-mode", "Ready")}

    def upgraded() -> dict[str, Any] | None:
        detail: dict[str, Any] = api.get(f"/api/releases/{namespace}/shop").json()
        members = [*detail["components"], *detail["resources"]]
        rows = {(r["ref"]["kind"], r["ref"]["name"], r["state"]) for r in members}
        return detail if detail["current_revision"] == 2 and rows == want else None

    detail = wait_until(upgraded, "serve to show revision 2 and its new ConfigMap", 90)
    assert detail["status"]["state"] == "Ready", detail

    helm.run("uninstall", "shop", "-n", namespace)
    wait_until(lambda: _item(api, namespace, "shop") is None, "the uninstalled release to go", 60)


async def test_discovery_on_start_forgets_what_helm_uninstalled_and_leaves_helmguards_own(
    sandbox: Sandbox, namespace: str, kube: Kube, store: Store, tmp_path: Path
) -> None:
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    await asyncio.to_thread(helm.run, "install", "byhelm", str(CHART), "-n", namespace)
    deployed = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        [
            "deploy", str(CHART), "--release", "ours", "-n", namespace, "--no-wait",
            "--set", "account=default",
            "--db", store.url, "--kubeconfig", str(sandbox.kubeconfig), "--timeout", "60s",
        ],
    )  # fmt: skip
    assert deployed.exit_code == 0, deployed.output
    ours = ReleaseKey(namespace, "ours")
    before = await store.list_revisions(ours)

    async with Sync(kube, store, discover_helm=True):
        found = await store.list_revisions(ReleaseKey(namespace, "byhelm"))
        assert [(r.number, r.outcome) for r in found] == [(1, "deployed")]
        assert found[0].inventory is not None
        assert {i.ref.name for i in found[0].inventory} == {"byhelm-web"}
    assert await store.list_revisions(ours) == before  # helmguard's own: untouched

    await asyncio.to_thread(helm.run, "uninstall", "byhelm", "-n", namespace)
    async with Sync(kube, store, discover_helm=True):
        assert await store.get_release(ReleaseKey(namespace, "byhelm")) is None
        assert await store.get_release(ours) is not None


def test_uninstalled_is_helms_word_not_helmguards_kept_history() -> None:
    assert uninstalled([])
    assert uninstalled([_rev(1, "superseded"), _rev(2, "uninstalled")])
    # helmguard's own uninstall --keep-history: the store keeps the release.
    assert not uninstalled([_rev(1, "uninstalled", by_helmguard=True)])
    assert not uninstalled([_rev(1, "superseded"), _rev(2, "deployed")])
