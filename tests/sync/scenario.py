"""Objects and probes shared by the sync tests (the seed scenario and its helpers)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from helmguard.kube.client import Kube
from helmguard.manifest import ObjectRef
from helmguard.sandbox.cluster import Sandbox
from helmguard.store import AppRecord, ReleaseKey, ResourceRecord, Store

T = TypeVar("T")
INSTANCE = "app.kubernetes.io/instance"


def deployment(name: str, release: str, service_account: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, INSTANCE: release}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": service_account,
                    "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
                },
            },
        },
    }


async def create(kube: Kube, path: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await kube.send_json("POST", path, body)
    return created


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30
) -> tuple[T, float]:
    """Poll an async probe every 50 ms until it returns something truthy; return it and the wait."""
    start = time.monotonic()
    while True:
        found = await probe()
        if found:
            return found, time.monotonic() - start
        assert time.monotonic() - start < within, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.05)


async def row(store: Store, key: ReleaseKey, ref: ObjectRef) -> ResourceRecord | None:
    for record in await store.list_resources(key):
        if record.ref == ref:
            return record
    return None


async def app_of(store: Store, key: ReleaseKey) -> AppRecord | None:
    """The app status stored with the release (None: not recorded, or not observed yet)."""
    release = await store.get_release(key)
    return release.app if release is not None else None


def compact_etcd(sandbox: Sandbox) -> int:
    """Compact the sandbox's etcd up to its current revision, as kube-apiserver does every 5 min.

    Afterwards no watch can start from an older resourceVersion: the API server answers
    410 Gone ("too old resource version"). Returns the revision compacted to.
    """
    etcd = f"http://127.0.0.1:{sandbox.ports['etcd']}"
    everything = {
        "key": base64.b64encode(b"\0").decode(),
        "range_end": base64.b64encode(b"\0").decode(),
    }
    head = httpx.post(f"{etcd}/v3/kv/range", json={**everything, "count_only": True}, timeout=5)
    head.raise_for_status()
    revision = int(head.json()["header"]["revision"])
    compacted = httpx.post(
        f"{etcd}/v3/kv/compaction", json={"revision": revision, "physical": True}, timeout=30
    )
    compacted.raise_for_status()
    return revision
