"""Fixtures for the kube tests: a helmguard `Kube` on the sandbox, tokens, Status capture.

Set HELMGUARD_RECORD_FIXTURES=1 to (re)write tests/kube/fixtures/*.json from the real
API server's answers while the sandbox tests run; the pure classifier tests read them.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from helmguard.kube.classifier import classify
from helmguard.kube.client import Kube
from helmguard.kube.config import ClusterConfig, load_config
from helmguard.kube.errors import ApiError, KubeError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def admin_config(sandbox: Any) -> ClusterConfig:
    return load_config(sandbox.kubeconfig, sandbox.admin_context)


@pytest.fixture
async def kube(admin_config: ClusterConfig) -> AsyncIterator[Kube]:
    async with Kube(admin_config) as k:
        yield k


async def service_account_token(kube: Kube, namespace: str, name: str) -> str:
    """Create ServiceAccount `name` (if absent) and a token for it via the TokenRequest API."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    try:
        await kube.send_json("POST", path, {"metadata": {"name": name}})
    except ApiError as exc:
        if exc.code != 409:
            raise
    answer = await kube.send_json(
        "POST",
        f"{path}/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return str(answer["status"]["token"])


async def object_path(kube: Kube, obj: dict[str, Any], name: str = "") -> str:
    """The REST path of `obj`'s collection (or of object `name`), found through discovery."""
    served = await kube.discovery.resources()
    resource = served.lookup(obj["apiVersion"], obj["kind"])
    return resource.url(obj["metadata"].get("namespace", ""), name)


async def create(kube: Kube, obj: dict[str, Any]) -> Any:
    """POST `obj` (a plain dict with apiVersion, kind and metadata) to its collection."""
    return await kube.send_json("POST", await object_path(kube, obj), obj)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def api_error(call: Awaitable[Any], record: str = "") -> tuple[ApiError, KubeError]:
    """Await a call that must fail with an API error; return it and its classification.

    With HELMGUARD_RECORD_FIXTURES=1 and `record`, the response is saved verbatim.
    """
    with pytest.raises(ApiError) as info:
        await call
    exc = info.value
    if record and os.environ.get("HELMGUARD_RECORD_FIXTURES") == "1":
        FIXTURES.mkdir(exist_ok=True)
        (FIXTURES / f"{record}.json").write_text(
            json.dumps(
                {
                    "request": {"method": exc.method, "url": exc.url},
                    "code": exc.http_status,
                    "headers": {"Retry-After": exc.retry_after} if exc.retry_after else {},
                    "status": exc.status,
                },
                indent=2,
            )
            + "\n"
        )
    return exc, classify(exc)
