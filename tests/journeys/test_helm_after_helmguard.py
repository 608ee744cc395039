"""helmguard deploys a release, then helm upgrades, rolls back and uninstalls it: every surface
follows what helm wrote.

A user deploys with helmguard and later someone runs `helm upgrade` or `helm rollback` on the
same release (a runbook, an old CI job). helm's release records then say which revision is
current and what it is made of; helmguard's store only knows the revision it wrote. `status`
(no serve), `status --live` and a running serve's API must evaluate helm's revision — objects it
removed are not Missing, objects it added are members — and a `helm uninstall` forgets the
release everywhere, as helmguard's own uninstall does.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmcli import Helm, helm_binary
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import helmguard, on_sandbox, start_serve

pytestmark = pytest.mark.sandbox

CHART = Path(__file__).parent.parent / "sync" / "charts" / "helmsa"
TOKEN = "helm-after-helmguard-token-" + "z" * 32


def _status(sandbox: Sandbox, db: Path, namespace: str, *extra: str) -> tuple[int, Any, str]:
    done = subprocess.run(
        helmguard(
            "status", "shop", "-n", namespace, "-o", "json", *extra, *on_sandbox(sandbox, db)
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, body, done.stderr


def _members(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(kind, name, state) of `status -o json`'s members ("Deployment/shop-web")."""
    return {(*m["object"].split("/", 1), m["state"]) for m in body["members"]}


def _api_members(detail: dict[str, Any]) -> set[tuple[str, str, str]]:
    rows = [*detail["components"], *detail["resources"]]
    return {(r["ref"]["kind"], r["ref"]["name"], r["state"]) for r in rows}


def test_helm_upgrade_rollback_and_uninstall_of_a_helmguard_release(
    sandbox: Sandbox,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    db = tmp_path / "hg.db"
    helm = Helm(helm_binary(), sandbox, tmp_path / "helm")
    deployed = subprocess.run(
        helmguard(
            "deploy", str(CHART), "--release", "shop", "-n", namespace, "--timeout", "90s",
            "--set", "account=default", "--set", "settings.mode=slow", *on_sandbox(sandbox, db),
        ),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    first = {("Deployment", "shop-web", "Ready"), ("ConfigMap", "shop-mode", "Ready")}
    code, body, err = _status(sandbox, db, namespace)
    assert code == 0 and _members(body) == first, (body, err)

    # helm upgrade: shop-mode removed, shop-size added (fresh values, as helm upgrade does).
    helm.run(
        "upgrade", "shop", str(CHART), "-n", namespace, "--wait", "--timeout", "90s",
        "--set", "account=default", "--set", "settings.size=big",
    )  # fmt: skip
    second = {("Deployment", "shop-web", "Ready"), ("ConfigMap", "shop-size", "Ready")}
    for extra in ((), ("--live",)):
        code, body, err = _status(sandbox, db, namespace, *extra)
        assert code == 0, (extra, body, err)
        assert body["app"]["state"] == "Ready", body
        assert _members(body) == second, (extra, body)
        assert "revision 2 from the release record on the cluster" in body["source"], body

    # serve started now follows helm's revision 2, then helm's rollback (revision 3).
    _, base = start_serve(
        helmguard("serve", *on_sandbox(sandbox, db)), processes, tmp_path / "serve.log", token=TOKEN
    )
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def shows(revision: int, members: set[tuple[str, str, str]]) -> dict[str, Any] | None:
        answer = api.get(f"/api/releases/{namespace}/shop")
        if answer.status_code != 200:
            return None
        detail: dict[str, Any] = answer.json()
        ok = detail["current_revision"] == revision and _api_members(detail) == members
        return detail if ok and detail["status"]["state"] == "Ready" else None

    wait_until(lambda: shows(2, second), "serve to show helm's revision 2", 90)
    helm.run("rollback", "shop", "1", "-n", namespace, "--wait", "--timeout", "90s")
    wait_until(lambda: shows(3, first), "serve to show helm's rollback (revision 3)", 90)
    code, body, err = _status(sandbox, db, namespace)
    assert code == 0 and _members(body) == first, (body, err)
    assert body["source"].startswith("stored by serve"), body

    # helm uninstall: gone from serve's list and from `status`, as after helmguard's uninstall.
    helm.run("uninstall", "shop", "-n", namespace, "--wait", "--timeout", "90s")

    def listed() -> bool:
        answer = api.get("/api/releases")
        answer.raise_for_status()
        return any(r["release"]["name"] == "shop" for r in answer.json())

    wait_until(lambda: not listed(), "serve to forget the release helm uninstalled", 60)
    code, body, err = _status(sandbox, db, namespace)
    assert code == 1 and "not found" in err, (code, body, err)
