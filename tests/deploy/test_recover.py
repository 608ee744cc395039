"""`recover` on the sandbox: a dead process's Lease is released, a live one's left alone.

(The whole path — a SIGKILLed serve mid-deploy, restarted — is tests/deploy/test_crash.py.)
"""
# ruff: noqa: ASYNC212 - the sync admin client only inspects the cluster between awaited steps

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import httpx

from deploy.test_lock import HOST, dead_pid
from helmguard.deploy.lock import lease_name
from helmguard.deploy.recover import recover
from helmguard.kube.client import connect
from helmguard.sandbox.cluster import Sandbox


def _lease(namespace: str, release: str, holder: str) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": lease_name(namespace, release),
            "namespace": namespace,
            "annotations": {"helmguard.io/release": f"{namespace}/{release}"},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 30,
            "acquireTime": stamp,
            "renewTime": stamp,
        },
    }


async def test_recover_releases_a_dead_holders_lease_and_keeps_a_live_one(
    sandbox: Sandbox, admin_http: httpx.Client, namespace: str
) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    dead = _lease(namespace, "orphan", f"{HOST}/{dead_pid()}/deploy/0a0a0a0a")
    live = _lease(namespace, "busy", f"{HOST}/{os.getpid()}/deploy/0b0b0b0b")
    for body in (dead, live):
        assert admin_http.post(path, json=body).status_code == 201
    lines: list[str] = []
    kube = await connect(sandbox.kubeconfig)
    try:
        results = await recover(kube, None, announce=lines.append)
    finally:
        await kube.aclose()
    mine = [r for r in results if r.namespace == namespace]
    assert [(r.release, r.outcome) for r in mine] == [("orphan", "clean")]
    assert f"recover: release {namespace}/orphan: nothing left unfinished" in lines
    assert admin_http.get(f"{path}/{dead['metadata']['name']}").status_code == 404
    assert admin_http.get(f"{path}/{live['metadata']['name']}").status_code == 200
