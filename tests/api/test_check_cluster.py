"""POST /api/check against the sandbox when the API has a cluster; offline when it has none."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from api.conftest import AUTH, REPO, TOKEN, running
from helmguard.api.app import create_app
from helmguard.kube.client import connect
from helmguard.store import Store

VALUES = "namespace:\n  create: false\n"


def _body(namespace: str) -> dict[str, str]:
    return {"chart": "vault-seed", "release": "common", "namespace": namespace, "values": VALUES}


async def test_check_uses_the_cluster_when_the_api_has_one(
    store: Store, sandbox: Any, admin_http: httpx.Client, namespace: str
) -> None:
    factory = lambda: connect(sandbox.kubeconfig, sandbox.admin_context)  # noqa: E731
    app = create_app(store, token=TOKEN, chart_roots=[REPO / "examples"], kube_factory=factory)
    async for client in running(app):
        answer = await client.post("/api/check", json=_body(namespace), headers=AUTH)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["offline"] is False
        assert [f["code"] for f in report["findings"]] == ["HG101"]
        finding = report["findings"][0]
        # Only the server-side dry run can know the API server's own words.
        assert 'serviceaccount "vault-svc" not found' in finding["predicted"]

        created = await asyncio.to_thread(
            admin_http.post,
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            json={"metadata": {"name": "vault-svc"}},
        )
        assert created.status_code == 201, created.text
        again = await client.post("/api/check", json=_body(namespace), headers=AUTH)
        assert again.status_code == 200, again.text
        assert again.json()["findings"] == []

    # The same request without a cluster is offline and still flags the ServiceAccount.
    offline = create_app(store, token=TOKEN, chart_roots=[REPO / "examples"])
    async for client in running(offline):
        answer = await client.post("/api/check", json=_body(namespace), headers=AUTH)
        assert answer.status_code == 200, answer.text
        assert answer.json()["offline"] is True
        assert "HG101" in [f["code"] for f in answer.json()["findings"]]


async def test_check_with_an_unreachable_cluster_is_503_with_the_reason(
    store: Store, sandbox: Any, namespace: str, tmp_path: Path
) -> None:
    async def unreachable() -> Any:
        # A port nothing listens on: the classified connection error, not a traceback.
        text = sandbox.kubeconfig.read_text().replace(sandbox.server, "https://127.0.0.1:9")
        path = tmp_path / "unreachable-kubeconfig"
        path.write_text(text)
        return await connect(path, sandbox.admin_context, timeout=1.0)

    app = create_app(store, token=TOKEN, chart_roots=[REPO / "examples"], kube_factory=unreachable)
    async for client in running(app):
        answer = await client.post("/api/check", json=_body(namespace), headers=AUTH)
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"].startswith("the cluster could not answer:")
