"""The transport's connections on the real API server: calls multiplexed over one HTTP/2
connection, a call abandoned mid-answer retiring it, watches on connections of their own."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx2
import pytest

from helmguard.kube.client import Kube
from helmguard.kube.config import ClusterConfig
from helmguard.kube.transport import Transport

pytestmark = pytest.mark.sandbox


async def test_concurrent_calls_share_one_http2_connection(admin_config: ClusterConfig) -> None:
    connects: list[str] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            connects.append(event)

    transport = Transport(admin_config)
    async with httpx2.AsyncClient(base_url=admin_config.target.server, transport=transport) as c:
        answers = await asyncio.gather(
            *(c.get("/api/v1/namespaces/default", extensions={"trace": trace}) for _ in range(60))
        )
    await transport.aclose()
    assert {a.status_code for a in answers} == {200}
    assert {a.http_version for a in answers} == {"HTTP/2"}
    assert len(connects) == 1, f"{len(connects)} connections for 60 concurrent calls"


async def test_a_call_abandoned_mid_answer_retires_its_connection(kube: Kube) -> None:
    transport = kube._transport
    opened = transport.call_pools
    # A watch sent as a call: its answer does not end for 30 s, so the deadline cuts it off
    # with data still arriving for the stream.
    never_ends = {"watch": "1", "timeoutSeconds": "30"}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await kube.get_json("/api/v1/namespaces", never_ends)
    assert (await kube.version())["gitVersion"]
    assert transport.call_pools == opened + 1


async def test_a_stalled_watch_blocks_no_call(kube: Kube, namespace: str) -> None:
    """Watches nobody reads while 4.5 MB of changes arrive for each: more than the 16 MiB
    flow-control window an HTTP/2 connection shared with calls would have, in all."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(4):
            watch = await stack.enter_async_context(kube.stream(path, {"watch": "1"}))
            assert watch.http_version == "HTTP/1.1"
        payload = "x" * 100_000
        async with asyncio.timeout(120):
            for start in range(0, 45, 15):
                await asyncio.gather(
                    *(
                        kube.send_json(
                            "POST", path, {"metadata": {"name": f"big-{i}"}, "data": {"v": payload}}
                        )
                        for i in range(start, start + 15)
                    )
                )
            listed = await kube.get_json(path)
    names = {item["metadata"]["name"] for item in listed["items"]}
    assert names >= {f"big-{i}" for i in range(45)}
