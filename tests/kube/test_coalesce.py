"""The HTTP/2 pool's streams gather the writes of one event-loop turn (kube/coalesce.py).

Over a real local TCP connection: what several tasks write in one turn arrives whole and
in order after one write to the socket stream; a write the socket refuses is raised by
the next read or write as httpcore2's WriteError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpcore2
import pytest

from helmguard.kube.coalesce import CoalescingBackend


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, asyncio.Queue[bytes]]]:
    """A local TCP server that puts every chunk it reads on a queue."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            received.put_nowait(chunk)
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        srv.close()
        await srv.wait_closed()


async def _read(received: asyncio.Queue[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += await asyncio.wait_for(received.get(), 5)
    return data


async def test_writes_of_one_turn_leave_in_one_send_in_order(
    server: tuple[int, asyncio.Queue[bytes]],
) -> None:
    port, received = server
    stream = await CoalescingBackend().connect_tcp("127.0.0.1", port)
    inner = stream._inner  # type: ignore[attr-defined]
    sends: list[bytes] = []
    original = inner.write

    async def counted(buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        sends.append(buffer)
        await original(buffer, timeout)

    inner.write = counted
    frames = [f"frame-{i};".encode() for i in range(20)]
    # Twenty writers in the same turn (as concurrent calls' HEADERS/DATA frames are).
    await asyncio.gather(*(stream.write(f) for f in frames))
    assert await _read(received, len(b"".join(frames))) == b"".join(frames)
    assert sends == [b"".join(frames)]
    await stream.write(b"later")
    assert await _read(received, 5) == b"later"
    assert len(sends) == 2
    await stream.aclose()


async def test_a_failed_send_is_raised_by_the_next_read_or_write(
    server: tuple[int, asyncio.Queue[bytes]],
) -> None:
    port, _ = server
    stream = await CoalescingBackend().connect_tcp("127.0.0.1", port)
    await stream._inner.aclose()  # type: ignore[attr-defined]  # the socket is gone
    await stream.write(b"lost")  # queued: the flusher's send fails
    await asyncio.sleep(0.05)
    with pytest.raises(httpcore2.WriteError):
        await stream.write(b"next")
    with pytest.raises(httpcore2.WriteError):
        await stream.read(10)
