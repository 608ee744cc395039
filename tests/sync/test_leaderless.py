"""Two `serve --leader-elect` replicas on one PostgreSQL database and registered cluster a
(the second sandbox): its release synced Ready, both replicas stopped, a's kube-apiserver
SIGKILLed, both started again: no replica can take a's Lease, so none leads it. Every
replica's /readyz then names cluster a ("no replica holds its Lease", since when, why),
its /api/clusters says so (`no_leader`), and the release is stored Unknown by a follower,
one transition per object for both replicas together; a's API server back, a replica
leads and the release is Ready again, no_leader gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmguard.manifest import ObjectRef
from helmguard.store import ReleaseKey, app_ref, open_store
from kubeapi import create_namespace, delete_namespace, wait_until
from pgserver import fresh_database
from processes import helmguard, start_serve, stop
from secondbox import Second
from sync.test_clusters import CHARTS, ELECTION, TOKEN, _cli, _get

pytestmark = pytest.mark.sandbox


@pytest.fixture
async def db_url(pg_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(pg_admin_url) as url:
        yield url


async def _history(url: str, key: ReleaseKey, ref: ObjectRef) -> list[tuple[str | None, str]]:
    async with await open_store(url, read_only=True) as store:
        return [(t.from_state, t.to_state) for t in await store.history(key, ref=ref)]


def test_every_replica_names_the_cluster_nobody_leads(
    second: Second, db_url: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    a = second.load()
    namespace = f"leaderless-{uuid.uuid4().hex[:8]}"
    with a.admin_http() as api:
        create_namespace(api, namespace)
    try:
        _run(a.kubeconfig, a.admin_context, a.server, second, db_url, namespace, processes,
             tmp_path)  # fmt: skip
    finally:
        with a.admin_http() as api, contextlib.suppress(httpx.HTTPError):
            delete_namespace(api, namespace)


def _run(
    kubeconfig: Path,
    context: str,
    server: str,
    second: Second,
    db: str,
    namespace: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    added = _cli("cluster", "add", "a", "--kubeconfig", str(kubeconfig), "--context", context,
                 "--db", db)  # fmt: skip
    assert added.returncode == 0, added.stderr
    deployed = _cli("deploy", str(CHARTS / "labelled"), "--release", "web", "-n", namespace,
                    "--cluster", "a", "--db", db)  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    serve = helmguard(
        "serve", "--db", db, "--no-default-cluster", "--cluster", "a", "--cluster-grace", "2",
        "--leader-elect-lease-namespace", namespace, *ELECTION,
    )  # fmt: skip
    logs = [tmp_path / f"serve-{i}.log" for i in range(2)]
    replicas = [start_serve(serve, processes, log, token=TOKEN) for log in logs]
    detail = f"{replicas[1][1]}/api/releases/{namespace}/web?cluster=a"

    def state() -> str | None:
        found = _get(detail)
        return found["status"]["state"] if found else None

    def cluster_a(base: str) -> Any:
        listed = _get(f"{base}/api/clusters")
        return next((c for c in listed or () if c["name"] == "a"), None)

    wait_until(lambda: state() == "Ready", "the release Ready", 90)
    for proc, _ in replicas:  # both stop; the store keeps the release Ready
        stop(proc)
    second.kill_apiserver()
    try:
        # Two replicas start while a is down: neither can lead it, ever.
        replicas = [start_serve(serve, processes, log, token=TOKEN) for log in logs]
        started = time.monotonic()
        for _, base in replicas:
            answer = wait_until(
                lambda b=base: (r := httpx.get(f"{b}/readyz", timeout=5)).status_code == 503 and r,
                f"{base}/readyz not ready",
                60,
            )
            said = answer.json()["detail"]
            print(f"{base}/readyz {time.monotonic() - started:.1f} s after the start: {said}")
            assert said.startswith("cluster a (") and "cannot be reached since" in said, said
            assert f"no replica holds its Lease {namespace}/helmguard-sync-a" in said, said
            assert server.removeprefix("https://") in said, said
            item = cluster_a(base)
            assert item["no_leader"] is not None, item
            assert "no replica holds its Lease" in item["no_leader"]["message"], item
            assert item["sync"] is None, item  # no sync of a holds the store's lease
        detail = f"{replicas[0][1]}/api/releases/{namespace}/web?cluster=a"
        wait_until(lambda: state() == "Unknown", "the release Unknown", 60)
        unknown = _get(detail)["status"]
        assert unknown["reason"] == "ClusterUnreachable", unknown
        assert "no replica holds its Lease" in unknown["message"], unknown
        # Both replicas go on trying for a dozen retry periods: one write per object.
        time.sleep(6)
        key = ReleaseKey(namespace, "web", "a")
        settings = ObjectRef("", "ConfigMap", namespace, "web-settings")
        for ref in (settings, app_ref(key)):
            changes = asyncio.run(_history(db, key, ref))
            assert changes[:2] == [("Ready", "Unknown"), (None, "Ready")], (ref, changes)
    finally:
        second.restart_apiserver()
    wait_until(lambda: state() == "Ready", "the release Ready again", 120)
    for _, base in replicas:
        wait_until(lambda b=base: httpx.get(f"{b}/readyz").status_code == 200, "/readyz", 120)
        wait_until(lambda b=base: cluster_a(b)["no_leader"] is None, "no_leader gone", 30)
    for proc, _ in replicas:
        stop(proc)
        assert proc.returncode == 0
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()
