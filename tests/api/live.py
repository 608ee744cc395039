"""Run an ASGI app on a real uvicorn server on a free loopback port, inside the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Yield the base URL of `app` served by uvicorn on 127.0.0.1 (lifespan included)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,  # nor may any other open connection
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.feed.end_streams()
        server.should_exit = True
        await task


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    into: list[tuple[str, dict[str, Any]]],
    ready: asyncio.Event,
    **kwargs: Any,
) -> None:
    """Append (event, data) of each server-sent event at `url` to `into` until cancelled."""
    async with client.stream("GET", url, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        event, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and data:
                into.append((event, json.loads(data)))
                event, data = "message", ""
