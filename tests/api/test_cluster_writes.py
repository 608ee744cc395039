"""Deploys, rollbacks and uninstalls for `?cluster=NAME`: each reaches the options (kubeconfig,
context, store key) of the cluster named, an unserved name is a 404 naming the served ones.
The clusters' kubeconfigs do not exist: an operation that starts fails naming which one it
tried, so the test sees where each request went without a cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from api.conftest import AUTH, REPO, TOKEN, running
from helmguard.api.app import create_app
from helmguard.store import ReleaseKey, ReleaseRecord, Store

CHECK = {"chart": "vault-seed", "release": "common", "namespace": "msga-cn"}


async def _finished(client: httpx.AsyncClient, started: httpx.Response) -> dict[str, Any]:
    assert started.status_code == 202, started.text
    for _ in range(200):
        op: dict[str, Any] = (await client.get(started.headers["location"], headers=AUTH)).json()
        if op["state"] != "running":
            return op
        await asyncio.sleep(0.05)
    raise AssertionError(f"the operation did not finish: {op}")


async def test_each_write_reaches_the_cluster_it_names(seeded: Store, tmp_path: Path) -> None:
    from helmguard.deploy import DeployOptions

    clusters = {
        "": DeployOptions(kubeconfig=str(tmp_path / "default-kubeconfig"), timeout=5),
        "b": DeployOptions(kubeconfig=str(tmp_path / "b-kubeconfig"), cluster="b", timeout=5),
    }
    await seeded.record_release(
        ReleaseRecord(ReleaseKey("shop", "web", "b"), "web", "1.0.0", 1, "deployed")
    )
    app = create_app(
        seeded,
        token=TOKEN,
        chart_roots=[REPO / "examples"],
        deploy_options=clusters[""],
        cluster_deploys=clusters,
    )
    async for client in running(app):
        unknown = await client.post("/api/deploy?cluster=zz", json=CHECK, headers=AUTH)
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == (
            "cluster 'zz' is not served here; served: '' (the default), 'b'"
        )
        to_b = await _finished(
            client, await client.post("/api/deploy?cluster=b", json=CHECK, headers=AUTH)
        )
        assert to_b["release"] == {"namespace": "msga-cn", "name": "common", "cluster": "b"}
        assert "b-kubeconfig" in to_b["error"], to_b
        to_default = await _finished(
            client, await client.post("/api/deploy", json=CHECK, headers=AUTH)
        )
        assert "default-kubeconfig" in to_default["error"], to_default
        # shop/web is recorded under cluster b only; its values are read from b's records.
        assert (await client.get("/api/releases/shop/web/values", headers=AUTH)).status_code == 404
        values = await client.get("/api/releases/shop/web/values?cluster=b", headers=AUTH)
        assert values.status_code != 200 and "b-kubeconfig" in values.text, values.text
        for action in ("rollback", "uninstall"):
            path = f"/api/releases/shop/web/{action}"
            elsewhere = await client.post(path, json={}, headers=AUTH)
            assert elsewhere.status_code == 404, elsewhere.text
            there = await _finished(
                client, await client.post(f"{path}?cluster=b", json={}, headers=AUTH)
            )
            assert there["release"]["cluster"] == "b"
            assert "b-kubeconfig" in there["error"], there


async def test_a_server_without_the_default_cluster(seeded: Store, tmp_path: Path) -> None:
    from helmguard.deploy import DeployOptions

    only_b = {"b": DeployOptions(kubeconfig=str(tmp_path / "b"), cluster="b", timeout=5)}
    app = create_app(seeded, token=TOKEN, chart_roots=[REPO / "examples"], cluster_deploys=only_b)
    async for client in running(app):
        default = await client.post("/api/deploy", json=CHECK, headers=AUTH)
        assert default.status_code == 404
        assert default.json()["detail"] == (
            "the default cluster (?cluster= empty) is not served here; served: 'b'"
        )
