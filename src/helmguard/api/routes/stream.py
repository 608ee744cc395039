"""The live stream: server-sent events of status transitions, operation steps and Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from helmguard.api.context import ClusterFilter, Context, read_access
from helmguard.api.feed import Feed
from helmguard.store import ReleaseKey

router = APIRouter(tags=["stream"])

HEARTBEAT_SECONDS = 15.0


@router.get(
    "/api/stream",
    dependencies=[read_access],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    context: Context,
    namespace: Annotated[str | None, Query(max_length=253)] = None,
    name: Annotated[str | None, Query(max_length=253)] = None,
    cluster: ClusterFilter = None,
) -> StreamingResponse:
    """Server-sent events: `transition` (status changes), `operation` (operation steps) and
    `event` (a Kubernetes Event of one of the release's objects, when first stored).

    With namespace and name, only that release's events (on `cluster`, the default cluster
    when absent); with `cluster` alone, that cluster's releases' events.
    """
    key = ReleaseKey(namespace, name, cluster or "") if namespace and name else None
    return StreamingResponse(
        _events(request, context.feed, key, cluster),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, feed: Feed, key: ReleaseKey | None, cluster: str | None
) -> AsyncIterator[bytes]:
    async with feed.subscribe(key, cluster) as sub:
        yield b"retry: 2000\n: connected\n\n"
        while not sub.overflowed:
            try:
                message = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": ping\n\n"
                continue
            if message is None:
                return
            # Everything already queued goes out in one write: fan-out stays cheap.
            chunk = [message.data]
            while not sub.queue.empty() and len(chunk) < 500:
                more = sub.queue.get_nowait()
                if more is None:
                    yield b"".join(chunk)
                    return
                chunk.append(more.data)
            yield b"".join(chunk)
        yield b'event: resync\ndata: {"reason":"client too slow; reload"}\n\n'
