"""`helmguard serve` while its cluster is away: it serves the page and API, stores the
cluster's releases Unknown with the reason, reports not-ready past the grace period, and
recovers when the cluster is back (a TCP proxy in front of the sandbox, stopped and
started). Also: a short API token is refused, the token never reaches the log stream, a
foreign Host header is refused."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import AppRecord, ReleaseKey, ResourceRecord, open_store
from kubeapi import wait_until
from processes import helmguard, on_sandbox, start_serve
from tcpproxy import TcpProxy


def _resources(db: Path, key: ReleaseKey) -> dict[ObjectRef, ResourceRecord]:
    async def read() -> dict[ObjectRef, ResourceRecord]:
        async with await open_store(str(db), read_only=True) as store:
            return {r.ref: r for r in await store.list_resources(key)}

    try:
        return asyncio.run(read())
    except Exception:
        return {}


def _app(db: Path, key: ReleaseKey) -> AppRecord | None:
    async def read() -> AppRecord | None:
        async with await open_store(str(db), read_only=True) as store:
            release = await store.get_release(key)
            return release.app if release is not None else None

    try:
        return asyncio.run(read())
    except Exception:
        return None


@pytest.fixture
def proxy(sandbox: Sandbox) -> Iterator[TcpProxy]:
    server = urlsplit(sandbox.server)
    assert server.hostname and server.port
    made = TcpProxy((server.hostname, server.port))
    yield made
    made.close()


def _kubeconfig_through(proxy: TcpProxy, sandbox: Sandbox, path: Path) -> Path:
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path.write_text(yaml.safe_dump(config))
    return path


def _status(url: str, **kwargs: object) -> int | None:
    try:
        return httpx.get(url, timeout=5, **kwargs).status_code  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None


def test_serve_with_the_cluster_away_serves_reports_and_recovers(
    sandbox: Sandbox,
    admin_http: httpx.Client,
    namespace: str,
    proxy: TcpProxy,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    db = tmp_path / "serve.db"
    key = ReleaseKey(namespace, "away")
    cm = {"metadata": {"name": "settings", "labels": {"app.kubernetes.io/instance": "away"}}}
    assert admin_http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=cm).is_success
    managed = subprocess.run(
        helmguard("manage", "away", "-n", namespace, "--db", str(db)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert managed.returncode == 0, managed.stderr
    kubeconfig = _kubeconfig_through(proxy, sandbox, tmp_path / "kubeconfig")
    token = secrets.token_urlsafe(32)
    log = tmp_path / "serve.log"
    # The cluster is away from the start: serve stays up and serves.
    serve = helmguard("serve", *on_sandbox(sandbox, db, kubeconfig), "--cluster-grace", "1")
    proc, base = start_serve(serve, processes, log, token=token)
    auth = {"Authorization": f"Bearer {token}"}
    page = httpx.get(f"{base}/", timeout=5)
    assert page.status_code == 200 and "<html" in page.text.lower()
    readyz = wait_until(
        lambda: (r := httpx.get(f"{base}/readyz", timeout=5)).status_code == 503 and r,
        "/readyz to say not ready",
    )
    assert "Cannot connect to the API server" in readyz.json()["detail"], readyz.text
    stored = wait_until(lambda: _app(db, key), "the release stored Unknown")
    assert stored.state == "Unknown" and stored.reason == "ClusterUnreachable", stored
    assert f"127.0.0.1:{proxy.port}" in stored.message, stored.message
    releases = httpx.get(f"{base}/api/releases", headers=auth, timeout=5).json()
    [item] = [r for r in releases if r["release"]["name"] == "away"]
    assert item["state"] == "Unknown", item
    assert proc.poll() is None
    # A page elsewhere reaching this port by DNS rebinding sends its own Host.
    assert _status(f"{base}/api/releases", headers={**auth, "Host": "evil.example"}) == 400

    # The cluster comes back: serve reconnects by itself and the statuses are true again.
    proxy.start()
    wait_until(lambda: _status(f"{base}/readyz") == 200, "/readyz ready again", 60)
    settings = ObjectRef("", "ConfigMap", namespace, "settings")
    wait_until(
        lambda: (r := _resources(db, key).get(settings)) is not None and r.state == "Ready",
        "the ConfigMap stored Ready",
        30,
    )

    # Away again while the sync runs: the watch is down, statuses Unknown, not ready.
    proxy.stop()
    readyz = wait_until(
        lambda: (r := httpx.get(f"{base}/readyz", timeout=5)).status_code == 503 and r,
        "/readyz not ready after the watch went down",
        60,
    )
    assert "watch down" in readyz.json()["detail"], readyz.text
    wait_until(
        lambda: (r := _resources(db, key).get(settings)) is not None and r.state == "Unknown",
        "the ConfigMap stored Unknown",
        30,
    )
    proxy.start()
    wait_until(lambda: _status(f"{base}/readyz") == 200, "/readyz ready after the outage", 90)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log.read_text()
    output = log.read_text()
    assert token not in output, "the token reached serve's log stream"
    assert "Traceback" not in output, output
    assert "the token is in $HELMGUARD_API_TOKEN" in output


@pytest.mark.parametrize("token", ["a", "x" * 31])
def test_serve_refuses_a_short_api_token(tmp_path: Path, token: str) -> None:
    db = tmp_path / "never.db"
    done = subprocess.run(
        helmguard("serve", "--db", str(db)),
        capture_output=True,
        text=True,
        env={**os.environ, "HELMGUARD_API_TOKEN": token},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "$HELMGUARD_API_TOKEN" in done.stderr and "at least 32" in done.stderr
    assert not db.exists()


def test_serve_refuses_a_kubeconfig_it_cannot_use(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    env = {**os.environ, "HELMGUARD_API_TOKEN": secrets.token_urlsafe(32)}
    missing = subprocess.run(
        helmguard("serve", "--db", str(db), "--kubeconfig", str(tmp_path / "nope")),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2, missing.stderr
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    assert not db.exists()
