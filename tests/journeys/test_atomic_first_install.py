"""A first install that fails with --atomic, then serve, status and uninstall.

A CI job deploys the seed chart with `--atomic` (helm's --rollback-on-failure) and a running
serve follows it. The install fails (its ServiceAccount is missing) and --atomic deletes
everything, as helm's does: no record is left, `helm status` says not found. helmguard keeps
the failed attempt's history (its log says why), but must not show a release that is not
there as something broken on the cluster: every surface says Missing, Uninstalled (not
NotFound), and `helmguard uninstall` forgets it (before, it answered "not found" and the
dashboard kept a red release forever).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import helmguard, on_sandbox, start_serve

pytestmark = pytest.mark.sandbox

SEED = Path(__file__).parents[2] / "examples" / "vault-seed"
TOKEN = "atomic-first-install-token-" + "q" * 32


def _run(sandbox: Sandbox, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        helmguard(*args, *on_sandbox(sandbox, db)), capture_output=True, text=True, timeout=180
    )


def test_a_failed_atomic_first_install_is_uninstalled_everywhere(
    sandbox: Sandbox,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    db = tmp_path / "hg.db"
    _, base = start_serve(
        helmguard("serve", *on_sandbox(sandbox, db)), processes, tmp_path / "serve.log", token=TOKEN
    )
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    failed = _run(
        sandbox, db, "deploy", "common", str(SEED), "-n", namespace, "--force", "--atomic",
        "--set", "namespace.create=false", "--timeout", "90s",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "deleted 3 object(s) and the release records" in failed.stderr, failed.stderr

    def listed() -> dict[str, Any] | None:
        answer = api.get("/api/releases")
        answer.raise_for_status()
        want = {"namespace": namespace, "name": "common", "cluster": ""}
        return next((r for r in answer.json() if r["release"] == want), None)

    def uninstalled() -> dict[str, Any] | None:
        item = listed()
        return item if item is not None and "was uninstalled" in item["summary"] else None

    item = wait_until(uninstalled, "serve to show the removed first install Uninstalled", 60)
    assert item["state"] == "Missing", item
    detail = api.get(f"/api/releases/{namespace}/common").json()
    assert (detail["status"]["state"], detail["status"]["reason"]) == ("Missing", "Uninstalled")
    assert detail["components"] == [] and detail["resources"] == [], detail

    for extra in ((), ("--live",)):
        shown = _run(sandbox, db, "status", "common", "-n", namespace, "-o", "json", *extra)
        assert shown.returncode == 0, shown.stderr
        body = json.loads(shown.stdout)
        assert (body["app"]["state"], body["app"]["reason"]) == ("Missing", "Uninstalled"), body
        assert body["members"] == [], body
    # The failed attempt's history is kept: its revision and why it failed.
    revisions = api.get(f"/api/releases/{namespace}/common/revisions").json()
    assert [r["outcome"] for r in revisions] == ["failed"], revisions

    gone = _run(sandbox, db, "uninstall", "common", "-n", namespace)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "its stored history was forgotten" in gone.stdout + gone.stderr
    wait_until(lambda: listed() is None, "serve to drop the forgotten release", 30)
    after = _run(sandbox, db, "status", "common", "-n", namespace)
    assert after.returncode == 1 and "not found" in after.stderr, after.stderr


def test_uninstall_keep_history_then_install_again_with_serve_running(
    sandbox: Sandbox,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """uninstall --keep-history: serve shows the kept release Uninstalled (its discovery of
    helm records does not forget it), then a new install is revision 2, as helm numbers it."""
    db = tmp_path / "hg.db"
    _, base = start_serve(
        helmguard("serve", *on_sandbox(sandbox, db)), processes, tmp_path / "serve.log", token=TOKEN
    )
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    sets = ("--set", "namespace.create=false", "--set", "serviceAccount.name=default")
    first = _run(sandbox, db, "deploy", "steady", str(SEED), "-n", namespace, *sets)
    assert first.returncode == 0, first.stderr

    def state(reason: str) -> dict[str, Any] | None:
        answer = api.get(f"/api/releases/{namespace}/steady")
        if answer.status_code != 200:
            return None
        detail: dict[str, Any] = answer.json()
        return detail if detail["status"]["reason"] == reason else None

    wait_until(lambda: state("Ready"), "serve to show the release Ready", 60)
    kept = _run(sandbox, db, "uninstall", "steady", "-n", namespace, "--keep-history")
    assert kept.returncode == 0, kept.stderr
    detail = wait_until(lambda: state("Uninstalled"), "serve to show it Uninstalled", 60)
    assert detail["status"]["state"] == "Missing" and detail["current_revision"] == 1, detail
    history = subprocess.run(
        helmguard(
            "history", "steady", "-n", namespace, "-o", "json",
            "--kubeconfig", str(sandbox.kubeconfig), "--kube-context", sandbox.admin_context,
        ),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert [(h["revision"], h["status"]) for h in json.loads(history.stdout)] == [
        (1, "uninstalled")
    ], history.stdout

    again = _run(sandbox, db, "install", "steady", str(SEED), "-n", namespace, *sets)
    assert again.returncode == 1 and "cannot reuse a name" in again.stderr, again.stderr
    again = _run(sandbox, db, "deploy", "steady", str(SEED), "-n", namespace, *sets)
    assert again.returncode == 0, again.stderr
    detail = wait_until(lambda: state("Ready"), "serve to show the new install Ready", 60)
    assert detail["current_revision"] == 2, detail
