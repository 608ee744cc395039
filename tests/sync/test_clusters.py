"""One `serve` over two clusters (two sandboxes): a journey through `cluster add`, `deploy
--cluster`, `status --cluster` and the API, then cluster A's kube-apiserver SIGKILLed: A's
release goes Unknown with the reason and /readyz names A, while B's sync goes on (a change
made in B is stored); A's API server back, A's release is synced again. The same with
--leader-elect: each cluster's Lease is in that cluster, and the replica holds both.

B is the session's sandbox. A is the sandbox named by $HELMGUARD_TEST_SECOND_SANDBOX (already
up; its kube-apiserver is killed and restarted, it is left up), else a private one this
module starts and stops (as tests/sync/test_reliability.py does).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.sandbox.cluster import Sandbox
from kubeapi import create_namespace, delete_namespace, wait_until
from processes import helmguard, start_serve
from secondbox import Second

pytestmark = pytest.mark.sandbox

CHARTS = Path(__file__).parent / "charts"
TOKEN = "clusters-test-token-8e41-long-enough-for-serve"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        helmguard(*args), capture_output=True, text=True, timeout=240, check=False
    )


def _get(url: str) -> Any:
    try:
        answer = httpx.get(url, headers=AUTH, timeout=5)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _until(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    return wait_until(probe, what, timeout)


# Short leader election timings (lease 4 s, renew deadline 3 s, retry 1 s).
ELECTION = [
    "--leader-elect",
    "--leader-elect-lease-duration=4",
    "--leader-elect-renew-deadline=3",
    "--leader-elect-retry-period=1",
]


@pytest.mark.parametrize("elected", [False, True], ids=["plain", "leader-elect"])
def test_one_serve_two_clusters_one_stops(
    sandbox: Sandbox,
    second: Second,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    elected: bool,
) -> None:
    a, b = second.load(), sandbox
    db = str(tmp_path / "clusters.db")
    namespace = f"clusters-{uuid.uuid4().hex[:8]}"
    with a.admin_http() as api_a, b.admin_http() as api_b:
        for api in (api_a, api_b):
            create_namespace(api, namespace)
        try:
            _run(a, b, second, api_b, db, namespace, processes, tmp_path, elected)
        finally:
            for api in (api_a, api_b):
                with contextlib.suppress(httpx.HTTPError):
                    delete_namespace(api, namespace)


def _run(
    a: Sandbox,
    b: Sandbox,
    second: Second,
    api_b: httpx.Client,
    db: str,
    namespace: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    elected: bool,
) -> None:
    # The journey: register both clusters, deploy to each by name, read it back by name.
    for name, box in (("a", a), ("b", b)):
        added = _cli(
            "cluster", "add", name, "--kubeconfig", str(box.kubeconfig),
            "--context", box.admin_context, "--db", db,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        deployed = _cli(
            "deploy", str(CHARTS / "labelled"), "--release", "web", "-n", namespace,
            "--set", f"greeting=from-{name}", "--cluster", name, "--db", db,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # Each deploy reached its own cluster: the ConfigMap carries that cluster's value.
    with a.admin_http() as api_a:
        for api, name in ((api_a, "a"), (api_b, "b")):
            cm = api.get(f"/api/v1/namespaces/{namespace}/configmaps/web-settings").json()
            assert cm["data"]["greeting"] == f"from-{name}"
    listed = json.loads(_cli("cluster", "list", "-o", "json", "--db", db).stdout)
    assert [(c["name"], c["releases"]) for c in listed] == [("a", 1), ("b", 1)]

    serve = helmguard(
        "serve", "--db", db, "--no-default-cluster", "--all-clusters", "--cluster-grace", "2",
        "--leader-elect-lease-namespace", namespace, *(ELECTION if elected else []),
    )  # fmt: skip
    log = tmp_path / "serve.log"
    proc, base = start_serve(serve, processes, log, token=TOKEN, ready="/readyz")
    detail = f"{base}/api/releases/{namespace}/web"

    def state(cluster: str) -> str | None:
        found = _get(f"{detail}?cluster={cluster}")
        return found["status"]["state"] if found else None

    for cluster in ("a", "b"):
        _until(lambda c=cluster: state(c) == "Ready", f"{cluster}'s release Ready")
    status_b = _cli("status", "web", "-n", namespace, "--cluster", "b", "--db", db, "-o", "json")
    assert status_b.returncode == 0, status_b.stderr
    from_cli = json.loads(status_b.stdout)
    from_api = _get(f"{detail}?cluster=b")
    listed_api = _get(f"{base}/api/releases?cluster=b")
    [item] = [r for r in listed_api if r["release"] == {"namespace": namespace, "name": "web",
                                                         "cluster": "b"}]  # fmt: skip
    assert from_cli["app"]["state"] == from_api["status"]["state"] == item["state"] == "Ready"
    assert from_cli["read_from"] == "store", from_cli
    assert [m["object"] for m in from_cli["members"]] == ["ConfigMap/web-settings"], from_cli
    if elected:
        # Each cluster's Lease is in that cluster, named after it; one replica holds both.
        with a.admin_http() as api_a:
            holders = {
                name: api.get(
                    f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/helmguard-sync-{name}"
                ).json()["spec"]["holderIdentity"]
                for api, name in ((api_a, "a"), (api_b, "b"))
            }
        assert holders["a"] == holders["b"] and holders["a"], holders

    # A's API server stops: A's release Unknown with the reason, /readyz names A.
    killed = time.monotonic()
    second.kill_apiserver()
    try:
        _until(lambda: state("a") == "Unknown", "A's release Unknown", 90)
        to_unknown = time.monotonic() - killed
        unknown = _get(f"{detail}?cluster=a")["status"]
        print(f"A's release Unknown {to_unknown:.1f} s after its API server died: {unknown}")
        # The watch's drop (or, reconnecting, the connection's failure), naming A's server.
        assert unknown["reason"] in ("WatchDisconnected", "ClusterUnreachable"), unknown
        assert a.server in unknown["message"], unknown
        if not elected:
            # (An elected replica holds A's Lease only until its renew deadline: then it is a
            # follower of A, ready, serving the store.)
            readyz = _until(
                lambda: (r := httpx.get(f"{base}/readyz", timeout=5)).status_code == 503 and r,
                "/readyz not ready naming cluster a",
            )
            said = readyz.json()["detail"]
            assert "cluster a (" in said and "cluster b (" not in said, said
        # B goes on: its release stays Ready, and a change made in B is stored.
        assert state("b") == "Ready"
        gone = api_b.delete(f"/api/v1/namespaces/{namespace}/configmaps/web-settings")
        assert gone.is_success, gone.text
        deleted = time.monotonic()
        _until(lambda: state("b") == "Missing", "B's deleted ConfigMap stored Missing", 60)
        print(f"B's deletion stored {time.monotonic() - deleted:.1f} s later, A still down")
        again = _cli(
            "deploy", str(CHARTS / "labelled"), "--release", "web", "-n", namespace,
            "--set", "greeting=again", "--cluster", "b", "--db", db,
        )  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        _until(lambda: state("b") == "Ready", "B's release Ready again", 60)
        assert state("a") == "Unknown"
        if elected:
            # A's Lease cannot be renewed while A is down: past the renew deadline (3 s) the
            # replica steps down from A, whatever the time B's steps above took.
            _until(
                lambda: "no longer leading cluster a (" in log.read_text(),
                "A's leadership given up",
                30,
            )
    finally:
        second.restart_apiserver()
    back = time.monotonic()
    # A is back: its release is synced again, and serve is ready.
    _until(lambda: state("a") == "Ready", "A's release Ready again", 120)
    print(f"A's release Ready {time.monotonic() - back:.1f} s after its API server was back")
    _until(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, "/readyz", 120)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()
    output = log.read_text()
    assert "Traceback" not in output, output
    assert "serve: syncing 1 release(s) from cluster a (" in output, output
    assert "serve: syncing 1 release(s) from cluster b (" in output, output
    if elected:
        assert "no longer leading cluster a (" in output, output
        assert "no longer leading cluster b (" not in output, output
