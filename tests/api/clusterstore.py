"""A store with releases of the same name on three clusters, as `serve` over them leaves it:
the default cluster's Ready (its sync holds the lease), east's Blocked, west's stored Unknown
by the real sync supervisor, which could not reach west's API server (a closed port)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import UTC, datetime
from pathlib import Path

import yaml

from api.conftest import REPO
from helmguard.kube.client import Kube, connect_config
from helmguard.kube.config import load_config
from helmguard.manifest import ObjectRef
from helmguard.store import AppRecord, ObservedStatus, ReleaseKey, ReleaseRecord, Store
from helmguard.sync.supervisor import UNREACHABLE, ClusterSupervisor

# Takes the default cluster's sync lease and waits (`lease URL`): SIGKILL it to leave the row.
WORKER = REPO / "tests" / "store" / "store_worker.py"
WEB = ("shop", "web")
DEFAULT = ReleaseKey(*WEB)
EAST = ReleaseKey(*WEB, "east")
WEST = ReleaseKey(*WEB, "west")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def kubeconfig_to(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "away", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "away", "context": {"cluster": "away", "user": "u"}}],
                "current-context": "away",
            }
        )
    )
    return path


async def set_app_status(store: Store, key: ReleaseKey, state: str, reason: str, msg: str) -> None:
    now = datetime.now(UTC)
    dep = ObjectRef("apps", "Deployment", key.namespace, key.name)
    await store.upsert_statuses(
        [(key, ObservedStatus(dep, state, reason, msg, now, now))],
        [(key, AppRecord(state, reason, f"{dep}: {msg}", now, now))],
    )


async def mark_unreachable(store: Store, cluster: str, tmp_path: Path) -> str:
    """Run the sync supervisor of `cluster` against a closed port until it has stored the
    cluster's releases Unknown; the server address it could not reach."""
    server = f"https://127.0.0.1:{closed_port()}"
    config = load_config(kubeconfig_to(tmp_path / f"{cluster}.kubeconfig", server), None)

    async def connect() -> Kube:
        return await connect_config(config, verify=False)

    supervisor = ClusterSupervisor(
        connect, store, name=f"cluster {cluster}", cluster=cluster, announce=lambda _: None
    )
    task = asyncio.create_task(supervisor.run())
    try:
        for _ in range(400):
            release = await store.get_release(ReleaseKey(*WEB, cluster))
            if release is not None and release.app and release.app.reason == UNREACHABLE:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the supervisor did not store {cluster} unreachable")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return server


async def fill_clusters(store: Store, tmp_path: Path) -> tuple[str, str]:
    """shop/web on "", east and west, shop/api on east (never synced); the default cluster's
    sync lease held by this process. Returns the lease holder and west's unreachable server."""
    for key in (DEFAULT, EAST, WEST):
        await store.record_release(ReleaseRecord(key, "web", "1.0.0", 1, "deployed"))
    await store.record_release(ReleaseRecord(ReleaseKey("shop", "api", "east"), "api", "2.0.0"))
    await set_app_status(store, DEFAULT, "Ready", "Available", "1 of 1 available")
    await set_app_status(store, EAST, "Blocked", "FailedCreate", "serviceaccount east-sa not found")
    await set_app_status(store, WEST, "Ready", "Available", "1 of 1 available")
    server = await mark_unreachable(store, "west", tmp_path)
    return await store.acquire_sync(""), server
