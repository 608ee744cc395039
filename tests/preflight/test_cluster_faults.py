"""Faults on the way to the cluster: clear messages, exit 2, nothing written.

The throttling tests put a tiny HTTP proxy in front of the real sandbox API server: it
answers 503 (or 429) to the first requests, then forwards everything.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from helmguard.chart.render import RenderRequest
from helmguard.cli import main
from helmguard.kube.errors import KubeError
from helmguard.preflight.check import check_cluster
from helmguard.preflight.dryrun import ClusterChanged
from kubeapi import wait_until

from .clusterkit import kube_for, names_in, write_chart

pytestmark = pytest.mark.sandbox

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: written-or-not}\ndata: {a: b}\n"


def _kubeconfig(path: Path, server: str, user: dict[str, Any], ca: str = "") -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca:
        cluster["certificate-authority-data"] = ca
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def _sandbox_ca(sandbox: Any) -> str:
    config = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    return str(config["clusters"][0]["cluster"]["certificate-authority-data"])


def _check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    return write_chart(tmp_path, "plain", {"cm.yaml": CONFIGMAP})


def test_unreachable_server(tmp_path: Path, chart: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}", {"token": "x"})
    t0 = time.monotonic()
    code, out, err = _check(str(chart), "--kubeconfig", str(config), "--timeout", "1.5")
    assert code == 2, (out, err)
    assert "Cannot connect to the API server https://127.0.0.1" in err
    assert "Nothing was written to the cluster." in err
    assert "Traceback" not in err and time.monotonic() - t0 < 20


def test_wrong_credentials(
    sandbox: Any, tmp_path: Path, chart: Path, admin_http: httpx.Client, namespace: str
) -> None:
    config = _kubeconfig(
        tmp_path / "kc", sandbox.server, {"token": "not-a-valid-token"}, _sandbox_ca(sandbox)
    )
    code, _, err = _check(str(chart), "-n", namespace, "--kubeconfig", str(config))
    assert code == 2
    assert "rejected the credentials (401 Unauthorized)" in err and "Fix:" in err
    assert names_in(admin_http, namespace, "configmaps") == {"kube-root-ca.crt"}


def test_revoked_service_account_token(
    sandbox: Any, tmp_path: Path, chart: Path, admin_http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    assert admin_http.post(path, json={"metadata": {"name": "gone"}}).status_code == 201
    answer = admin_http.post(
        f"{path}/gone/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    token = answer.json()["status"]["token"]
    assert admin_http.delete(f"{path}/gone").status_code == 200
    config = _kubeconfig(tmp_path / "kc", sandbox.server, {"token": token}, _sandbox_ca(sandbox))
    wait_until(
        lambda: _check(str(chart), "-n", namespace, "--kubeconfig", str(config))[0] == 2,
        "the token of a deleted ServiceAccount to be refused",
    )
    code, _, err = _check(str(chart), "-n", namespace, "--kubeconfig", str(config))
    assert code == 2 and "401 Unauthorized" in err


def test_context_that_does_not_exist(sandbox: Any, chart: Path) -> None:
    code, _, err = _check(
        str(chart), "--kubeconfig", str(sandbox.kubeconfig), "--kube-context", "nope"
    )
    assert code == 2
    assert "Context 'nope' is not defined" in err and "sandbox-admin" in err


class _Proxy:
    """Plain HTTP in front of the sandbox: `failures` answers of `status` first, then forwards."""

    def __init__(self, sandbox: Any, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.answered = 0
        self.forwarded: list[str] = []
        self.lock = threading.Lock()
        upstream = sandbox.admin_http()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.answered += 1
                    fail = proxy.answered <= proxy.failures
                    if not fail:
                        proxy.forwarded.append(f"{self.command} {self.path}")
                if fail:
                    status = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": "the server is currently unable to handle the request",
                        "reason": "ServiceUnavailable"
                        if proxy.status == 503
                        else "TooManyRequests",
                        "code": proxy.status,
                    }
                    data = json.dumps(status).encode()
                    self.send_response(proxy.status)
                    if proxy.status == 429:
                        self.send_header("Retry-After", "1")
                else:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() in ("content-type", "accept")
                    }
                    answer = upstream.request(
                        self.command, self.path, content=body, headers=headers
                    )
                    data = answer.content
                    self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.upstream = upstream
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()


@pytest.fixture
def proxy_factory(sandbox: Any) -> Iterator[Any]:
    made: list[_Proxy] = []

    def make(failures: int, status: int = 503) -> _Proxy:
        p = _Proxy(sandbox, failures, status)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.mark.parametrize("status", [503, 429])
def test_server_unavailable_for_a_while_is_retried(
    status: int,
    tmp_path: Path,
    chart: Path,
    proxy_factory: Any,
    admin_http: httpx.Client,
    namespace: str,
) -> None:
    proxy = proxy_factory(4, status)
    config = _kubeconfig(tmp_path / "kc", proxy.url, {})
    code, out, err = _check(
        str(chart), "-n", namespace, "--kubeconfig", str(config), "-o", "json", "-v"
    )
    assert code == 0, (out, err)
    doc = json.loads(out)
    assert doc["offline"] is False and doc["findings"] == []
    assert doc["cluster"]["dryRunVerified"] == 1
    assert proxy.answered > 4 and any("dryRun=All" in p for p in proxy.forwarded)
    assert names_in(admin_http, namespace, "configmaps") == {"kube-root-ca.crt"}


def test_server_unavailable_for_good_gives_up(
    tmp_path: Path, chart: Path, proxy_factory: Any
) -> None:
    proxy = proxy_factory(10**6)
    config = _kubeconfig(tmp_path / "kc", proxy.url, {})
    code, _, err = _check(str(chart), "--kubeconfig", str(config), "--timeout", "2")
    assert code == 2
    assert "503" in err and "gave up after" in err and "Traceback" not in err
    assert proxy.forwarded == []


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "fleeting.fleet.example.test"},
    "spec": {
        "group": "fleet.example.test",
        "scope": "Namespaced",
        "names": {"plural": "fleeting", "singular": "fleet", "kind": "Fleet"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_crd_deleted_between_discovery_and_the_check(
    sandbox: Any, tmp_path: Path, admin_http: httpx.Client, namespace: str
) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = admin_http.post(crds, json=CRD)
    assert created.status_code in (201, 409), created.text
    served = "/apis/fleet.example.test/v1"
    wait_until(lambda: admin_http.get(served).status_code == 200, "the CRD served")
    chart = write_chart(
        tmp_path,
        "fleet",
        {"fleet.yaml": "apiVersion: fleet.example.test/v1\nkind: Fleet\nmetadata: {name: f}\n"},
    )
    request = RenderRequest(chart=str(chart), release="r1", namespace=namespace)

    async def go() -> None:
        async with await kube_for(sandbox) as kube:
            seen = await kube.discovery.resources()  # discovery, as at the start of a check
            assert seen.serves("fleet.example.test", "Fleet")
            await asyncio.to_thread(admin_http.delete, f"{crds}/fleeting.fleet.example.test")
            for _ in range(300):
                answer = await asyncio.to_thread(admin_http.get, served)
                if answer.status_code == 404:
                    break
                await asyncio.sleep(0.1)
            with pytest.raises(ClusterChanged) as info:
                await check_cluster(request, kube=kube)
            err: KubeError = info.value
            assert "Fleet was served when the check started but is not any more" in err.message
            assert err.fix

    asyncio.run(go())
    assert admin_http.get(f"{served}/namespaces/{namespace}/fleeting").status_code == 404
