"""The release Lease: where it lives, when it is free, and that both places are honoured."""
# ruff: noqa: ASYNC212 - the sync admin client only inspects the cluster between awaited steps

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from helmguard.deploy.cluster import Cluster
from helmguard.deploy.lock import (
    LOCK_NAMESPACE,
    ReleaseLocked,
    acquire,
    holder_gone,
    lease_free,
    lease_name,
)
from helmguard.kube.client import connect
from helmguard.sandbox.cluster import Sandbox

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def lease(holder: str, renewed: datetime, seconds: int = 30) -> dict[str, Any]:
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": seconds,
            "acquireTime": stamp,
            "renewTime": stamp,
        }
    }


def test_holder_gone_only_for_a_dead_pid_on_this_host() -> None:
    assert holder_gone(f"{HOST}/{dead_pid()}/deploy/abc")
    assert not holder_gone(f"{HOST}/{os.getpid()}/deploy/abc")
    assert not holder_gone(f"another-host-{HOST}/{dead_pid()}/deploy/abc")
    assert not holder_gone(f"{HOST}/not-a-pid/deploy/abc")
    assert not holder_gone("")


def test_lease_free_when_absent_expired_or_its_holder_died() -> None:
    now = datetime.now(UTC)
    alive = f"{HOST}/{os.getpid()}/deploy/abc"
    assert lease_free(None, now)
    assert not lease_free(lease(alive, now), now)
    assert lease_free(lease(alive, now - timedelta(seconds=31)), now)
    assert lease_free(lease(f"{HOST}/{dead_pid()}/deploy/abc", now), now)
    assert not lease_free(lease(f"elsewhere/{dead_pid()}/deploy/abc", now), now)


@pytest.fixture
async def cluster(sandbox: Sandbox) -> AsyncIterator[Cluster]:
    kube = await connect(sandbox.kubeconfig)
    try:
        yield Cluster(kube, deadline=time.monotonic() + 60)
    finally:
        await kube.aclose()


def _lease_path(namespace: str, release_ns: str) -> str:
    name = lease_name(release_ns, "locked")
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"


async def test_the_lease_lives_in_the_release_namespace(
    cluster: Cluster, admin_http: httpx.Client, namespace: str
) -> None:
    lock = await acquire(cluster, namespace, "locked", operation="deploy")
    try:
        assert lock.ref.namespace == namespace
        assert admin_http.get(_lease_path(namespace, namespace)).status_code == 200
        assert admin_http.get(_lease_path(LOCK_NAMESPACE, namespace)).status_code == 404
        with pytest.raises(ReleaseLocked, match=f"Lease {namespace}/"):
            await acquire(cluster, namespace, "locked", operation="deploy")
    finally:
        await lock.release()
    assert admin_http.get(_lease_path(namespace, namespace)).status_code == 404


async def test_a_lease_in_the_fallback_namespace_is_honoured_and_a_dead_one_taken(
    cluster: Cluster, admin_http: httpx.Client, namespace: str
) -> None:
    # As left by an operation that started before the release namespace existed.
    now = datetime.now(UTC)
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": lease_name(namespace, "locked"), "namespace": LOCK_NAMESPACE},
        **lease("elsewhere/1/deploy/abc", now),
    }
    path = f"/apis/coordination.k8s.io/v1/namespaces/{LOCK_NAMESPACE}/leases"
    assert admin_http.post(path, json=body).status_code == 201
    try:
        with pytest.raises(ReleaseLocked, match=f"Lease {LOCK_NAMESPACE}/"):
            await acquire(cluster, namespace, "locked", operation="deploy")
        # Its holder ran here and is gone: free at once, no 30 s wait.
        live = admin_http.get(f"{path}/{body['metadata']['name']}").json()
        dead = {**live, **lease(f"{HOST}/{dead_pid()}/deploy/abc", now)}
        replaced = admin_http.put(f"{path}/{body['metadata']['name']}", json=dead)
        assert replaced.status_code == 200, replaced.text
        lock = await acquire(cluster, namespace, "locked", operation="deploy")
        assert lock.ref.namespace == namespace
        # The dead holder's Lease is gone: no Lease of the release outlives its operation.
        assert admin_http.get(_lease_path(LOCK_NAMESPACE, namespace)).status_code == 404
        await lock.release()
    finally:
        admin_http.delete(f"{path}/{body['metadata']['name']}")
