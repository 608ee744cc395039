"""`helmguard serve` SIGKILLed in the middle of an API deploy, then started again.

Real processes on the sandbox: serve with its API deploys the `crashy` chart (wave 0: a
ServiceAccount and a ConfigMap; wave 1: the Deployment using them, held Progressing by
minReadySeconds), and is killed the moment the store's operation log holds the chosen
step — after the lock, after the first wave, during the wait. The next serve must find
the operation's owner gone and say so everywhere: the cluster record and the store's
revision are interrupted with exactly the objects the API server took, the release
Lease is gone, the API shows it, and `helmguard uninstall` removes every applied object.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from api.test_browser import CHROMIUM, CHROMIUM_ARGS
from helmguard.deploy.release import RevisionManifest, decode_record
from helmguard.sandbox.cluster import Sandbox
from kubeapi import wait_until
from processes import helmguard, on_sandbox, start_serve

CHARTS = Path(__file__).parent / "charts"
TOKEN = "crash-test-token-" + "k" * 32
RELEASE = "crashy"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The chart's objects, by the API path of each (their namespace filled in).
OBJECTS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts/crashy-runner",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps/crashy-settings",
    "Deployment.apps": "/apis/apps/v1/namespaces/{ns}/deployments/crashy-worker",
}


def serve(
    sandbox: Sandbox, db: Path, log: Path, processes: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], str]:
    """`helmguard serve` with its API on a free port, charts from tests/deploy/charts."""
    argv = helmguard("serve", *on_sandbox(sandbox, db))
    return start_serve(argv, processes, log, token=TOKEN, cwd=CHARTS)


def logged_steps(db: Path, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """The release's operation log as stored now: (step, details), in order."""
    query = (
        "SELECT l.step, l.details FROM operation_log l JOIN releases r ON r.id = l.release_id "
        "WHERE r.namespace = ? AND r.name = ? ORDER BY l.revision, l.seq"
    )
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(db, timeout=5)) as connection,
    ):
        rows = connection.execute(query, (namespace, RELEASE)).fetchall()
        return [(step, json.loads(details) if details else {}) for step, details in rows]
    return []


def stored_revisions(db: Path, namespace: str) -> list[tuple[int, str, list[dict[str, Any]]]]:
    query = (
        "SELECT v.number, v.outcome, v.inventory FROM revisions v JOIN releases r "
        "ON r.id = v.release_id WHERE r.namespace = ? AND r.name = ? ORDER BY v.number"
    )
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as connection:
        rows = connection.execute(query, (namespace, RELEASE)).fetchall()
    return [(n, outcome, json.loads(inv) if inv else []) for n, outcome, inv in rows]


def applied_on_cluster(admin_http: httpx.Client, namespace: str) -> set[str]:
    """The chart's objects that exist stamped with revision 1: what the API server took."""
    found = set()
    for kind, path in OBJECTS.items():
        answer = admin_http.get(path.format(ns=namespace))
        if answer.status_code == 404:
            continue
        annotations = answer.json()["metadata"].get("annotations") or {}
        if annotations.get("helmguard.io/revision") == "1":
            found.add(kind)
    return found


def records(admin_http: httpx.Client, namespace: str) -> list[RevisionManifest]:
    """The release's Helm records (Secrets), read back."""
    listed = admin_http.get(
        f"/api/v1/namespaces/{namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={RELEASE}"},
    ).json()["items"]
    return [decode_record({"apiVersion": "v1", "kind": "Secret", **item}) for item in listed]


def release_leases(admin_http: httpx.Client, namespace: str) -> list[str]:
    items = admin_http.get("/apis/coordination.k8s.io/v1/leases").json()["items"]
    return [
        f"{i['metadata']['namespace']}/{i['metadata']['name']} held by "
        f"{i['spec'].get('holderIdentity')}"
        for i in items
        if (i["metadata"].get("annotations") or {}).get("helmguard.io/release")
        == f"{namespace}/{RELEASE}"
    ]


@pytest.mark.parametrize("kill_at", ["lock.acquired", "wave.applied", "wait.start"])
def test_serve_killed_mid_deploy_leaves_an_interrupted_revision_and_no_lock(
    kill_at: str,
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    db = tmp_path / "crash.db"
    first, base = serve(sandbox, db, tmp_path / "serve1.log", processes)
    started = httpx.post(
        f"{base}/api/deploy",
        headers=AUTH,
        json={"chart": "crashy", "release": RELEASE, "namespace": namespace, "timeout": 300},
        timeout=30,
    )
    assert started.status_code == 202, started.text

    def reached() -> bool:
        assert first.poll() is None, (tmp_path / "serve1.log").read_text()
        return any(step == kill_at for step, _ in logged_steps(db, namespace))

    deadline = time.monotonic() + 90
    while not reached():
        assert time.monotonic() < deadline, f"no {kill_at} in the stored operation log"
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)

    applied = applied_on_cluster(admin_http, namespace)
    logged = {
        d["ref"].split(" ")[0] for s, d in logged_steps(db, namespace) if s == "object.applied"
    }
    # The log may lose its last ~100 ms; it never names an object the cluster lacks.
    assert logged <= applied
    if kill_at != "lock.acquired":
        assert {"ServiceAccount", "ConfigMap"} <= applied
    if kill_at == "wait.start":
        assert applied == set(OBJECTS)
    assert release_leases(admin_http, namespace), "the dead serve's Lease should still be there"
    assert [r.status for r in records(admin_http, namespace)] == ["pending-install"]
    assert [(n, o) for n, o, _ in stored_revisions(db, namespace)] == [(1, "running")]

    _, base = serve(sandbox, db, tmp_path / "serve2.log", processes)

    def settled() -> list[tuple[int, str, list[dict[str, Any]]]] | None:
        # Settling ends with the Lease it took released: wait for the whole of it.
        revisions = stored_revisions(db, namespace)
        done = revisions and revisions[0][1] == "interrupted"
        return revisions if done and not release_leases(admin_http, namespace) else None

    revisions = wait_until(settled, "the restarted serve to settle the interrupted deploy", 60)
    assert [(n, o) for n, o, _ in revisions] == [(1, "interrupted")]
    stored = {
        i["kind"] + (f".{i['group']}" if i["group"] else "") for i in revisions[0][2] if i["uid"]
    }
    assert stored == applied

    (record,) = records(admin_http, namespace)
    assert (record.status, record.outcome) == ("failed", "interrupted")
    assert "interrupted" in record.description
    assert {str(a.ref).split(" ")[0] for a in record.applied} == applied
    assert release_leases(admin_http, namespace) == []

    detail = httpx.get(f"{base}/api/releases/{namespace}/{RELEASE}", headers=AUTH, timeout=10)
    assert detail.status_code == 200, detail.text
    assert detail.json()["current_revision"] == 1
    told = httpx.get(
        f"{base}/api/releases/{namespace}/{RELEASE}/revisions", headers=AUTH, timeout=10
    ).json()
    assert [(r["number"], r["outcome"]) for r in told] == [(1, "interrupted")]
    steps = httpx.get(f"{base}/api/releases/{namespace}/{RELEASE}/log", headers=AUTH, timeout=10)
    interrupted = [s for s in steps.json() if s["step"] == "interrupted"]
    assert interrupted and f"{len(applied)} object(s) applied" in interrupted[-1]["message"]
    # And the page a user opens from serve's link says so too.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/?release={namespace}/{RELEASE}#token={TOKEN}")
            heading = page.locator("#operations h3").first
            heading.wait_for(timeout=30_000)
            assert heading.inner_text().startswith("revision 1 — interrupted")
        finally:
            browser.close()

    gone = subprocess.run(
        helmguard("uninstall", RELEASE, "-n", namespace, *on_sandbox(sandbox, db)),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert gone.returncode == 0, gone.stdout + gone.stderr

    def all_gone() -> bool:
        return all(
            admin_http.get(p.format(ns=namespace)).status_code == 404 for p in OBJECTS.values()
        )

    wait_until(all_gone, "every applied object to be deleted", 60)
    assert records(admin_http, namespace) == []
